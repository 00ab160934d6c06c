// A one-line progress bar on stderr, only when stderr is a terminal (never in pipes, logs or CI).
export class Progress {
  readonly #total: number;
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #stream: NodeJS.WriteStream;
  #lastDraw = 0;
  #done = 0;
  readonly #started = Date.now();

  constructor(label: string, total: number, stream: NodeJS.WriteStream = process.stderr) {
    this.#label = label;
    this.#total = total;
    this.#stream = stream;
    this.#enabled = stream.isTTY === true;
  }

  tick(n = 1): void {
    this.#done += n;
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#lastDraw < 100 && this.#done < this.#total) return;
    this.#lastDraw = now;
    this.#draw(now);
  }

  #draw(now: number): void {
    const width = 30;
    const ratio = this.#total > 0 ? Math.min(1, this.#done / this.#total) : 0;
    const filled = Math.round(ratio * width);
    const elapsed = (now - this.#started) / 1000;
    const rate = elapsed > 0 ? Math.round(this.#done / elapsed) : 0;
    const eta = rate > 0 && this.#total > this.#done ? `${Math.ceil((this.#total - this.#done) / rate)}s left` : '';
    this.#stream.write(`\r${this.#label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total} ${rate}/s ${eta}\x1b[K`);
  }

  finish(): void {
    if (!this.#enabled) return;
    this.#draw(Date.now());
    this.#stream.write('\n');
  }
}
