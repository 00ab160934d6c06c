/*
 * A Kafka-protocol broker for tests, from librdkafka's mock cluster (rdkafka_mock.h, Debian librdkafka-dev).
 * test/support/kafka.ts compiles this file (cc mock-broker.c -lrdkafka) into node_modules/.cache/hoptrace/
 * and talks to it over stdio:
 *
 *   usage: mock-broker [broker-count]          (default 1; the brokers listen on 127.0.0.1, ports chosen by the OS)
 *   stdout, first line:  bootstrap <host:port,...>
 *   stdin, one command a line, each answered "ok" or "error <text>":
 *     topic <name> <partitions>   create a topic (the mock has no CreateTopics API; replication = broker count)
 *     down <broker-id>            close the broker's connections and refuse new ones (ids start at 1)
 *     up <broker-id>              accept connections again
 *     error <api-key> <code> <n>  fail the next n requests of that API with that Kafka error code
 *                                 (e.g. "error 0 10 3": three Produce requests get MESSAGE_TOO_LARGE)
 *   end of stdin (or "quit"): the cluster is destroyed and the process exits, so it never outlives the test.
 *
 * Log lines of librdkafka (warnings and worse; all with env HOPTRACE_MOCK_DEBUG=1) go to stderr.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 1024
#define MAX_INJECTED_ERRORS 64
#define LOG_WARNING_LEVEL 4 /* syslog levels: 0 emergency .. 7 debug */

static int log_threshold = LOG_WARNING_LEVEL;

static void log_to_stderr(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
        (void)rk;
        if (level <= log_threshold)
                fprintf(stderr, "rdkafka-mock %d %s: %s\n", level, facility, message);
}

static void reply_error(rd_kafka_resp_err_t err) {
        printf("error %s\n", rd_kafka_err2str(err));
}

int main(int argc, char **argv) {
        char errstr[512];
        char line[LINE_MAX_BYTES];
        int broker_count = argc > 1 ? atoi(argv[1]) : 1;
        const char *debug = getenv("HOPTRACE_MOCK_DEBUG");
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *cluster;

        if (broker_count < 1 || broker_count > 16) {
                fprintf(stderr, "mock-broker: broker count must be 1..16, got %s\n", argv[1]);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);

        conf = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(conf, log_to_stderr);
        if (debug != NULL && strcmp(debug, "1") == 0) {
                log_threshold = 7;
                if (rd_kafka_conf_set(conf, "debug", "mock,protocol", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
                        fprintf(stderr, "mock-broker: %s\n", errstr);
        }
        /* The handle only hosts the cluster's thread and logging; it never connects anywhere. */
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (rk == NULL) {
                fprintf(stderr, "mock-broker: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        cluster = rd_kafka_mock_cluster_new(rk, broker_count);
        if (cluster == NULL) {
                fprintf(stderr, "mock-broker: rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }
        printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(cluster));

        while (fgets(line, sizeof(line), stdin) != NULL) {
                char name[LINE_MAX_BYTES];
                int number, code, count;
                rd_kafka_resp_err_t err;

                if (sscanf(line, "topic %1023s %d", name, &number) == 2) {
                        if (number < 1) {
                                printf("error partitions must be >= 1\n");
                                continue;
                        }
                        err = rd_kafka_mock_topic_create(cluster, name, number, broker_count < 3 ? broker_count : 3);
                } else if (sscanf(line, "down %d", &number) == 1) {
                        err = rd_kafka_mock_broker_set_down(cluster, number);
                } else if (sscanf(line, "up %d", &number) == 1) {
                        err = rd_kafka_mock_broker_set_up(cluster, number);
                } else if (sscanf(line, "error %d %d %d", &number, &code, &count) == 3) {
                        rd_kafka_resp_err_t errors[MAX_INJECTED_ERRORS];
                        int i;
                        if (count < 1 || count > MAX_INJECTED_ERRORS) {
                                printf("error count must be 1..%d\n", MAX_INJECTED_ERRORS);
                                continue;
                        }
                        for (i = 0; i < count; i++)
                                errors[i] = (rd_kafka_resp_err_t)code;
                        rd_kafka_mock_push_request_errors_array(cluster, (int16_t)number, (size_t)count, errors);
                        err = RD_KAFKA_RESP_ERR_NO_ERROR;
                } else if (strncmp(line, "quit", 4) == 0) {
                        break;
                } else {
                        printf("error unknown command\n");
                        continue;
                }
                if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
                        reply_error(err);
                else
                        printf("ok\n");
        }

        rd_kafka_mock_cluster_destroy(cluster);
        rd_kafka_destroy(rk);
        return 0;
}
