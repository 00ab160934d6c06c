// Public surface of the OVSDB parsers, model and client (for other modules; inside
// src/hoststate/ovsdb import the file itself).
export { atomsOf, atomText, datumFromJson, datumToJson, isUuid, parseTextDatum, stringMapOf, DatumError } from './datum.js';
export type { OvsdbAtom, OvsdbDatum, OvsdbUuid } from './datum.js';
export type { OvsdbColumns, OvsdbRows, OvsdbTables } from './rows.js';
export { parseVsctlList, vsctlListForm } from './vsctl-list.js';
export type { VsctlListForm } from './vsctl-list.js';
export { parseOvsdbClientDump } from './ovsdb-client-dump.js';
export { mergeShow, parseVsctlShow, toOvsShow } from './vsctl-show.js';
export type { OvsShow, OvsShowBridge, OvsShowInterface, OvsShowPort, OvsShowTarget } from './vsctl-show.js';
export { buildOvsdbState, canonicalTableName, OVSDB_MODEL_COLUMNS, OVSDB_MODEL_TABLES } from './state.js';
export type {
  NeutronInterfaceBinding,
  NeutronPortConfig,
  OvsdbBridge,
  OvsdbInterface,
  OvsdbModelTable,
  OvsdbPort,
  OvsdbSflow,
  OvsdbState,
} from './state.js';
export { applyTableUpdates, parseTableUpdates, summarizeUpdates } from './monitor.js';
export type { OvsdbChange, OvsdbRowUpdate, OvsdbTableUpdates } from './monitor.js';
export { buildOvsdbStateFromOutputs, outputSource } from './from-outputs.js';
export { formatOvsdbAddress, OvsdbClient, OvsdbError, parseOvsdbAddress } from './client.js';
export type {
  OvsdbAddress,
  OvsdbClientOptions,
  OvsdbCondition,
  OvsdbErrorCode,
  OvsdbMonitorRequest,
  OvsdbOperation,
  OvsdbOperationResult,
} from './client.js';
export { watchOvsdb } from './watch.js';
export type { OvsdbChangeListener, OvsdbWatch, OvsdbWatchOptions } from './watch.js';
export { describeChange, OvsdbChangeSource } from './change-source.js';
export type { OvsdbChangeSourceOptions } from './change-source.js';
