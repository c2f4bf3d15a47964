/**
 * `rsekit/comms`: the RSE's runtime services over a socket, as swtpm serves a TPM: {@link
 * RseServer} boots a device and answers the RSE comms messages TF-A sends (embed and pointer
 * access, on a Unix or TCP socket); {@link RseClient} speaks them from TypeScript.
 *
 * @example Serve a provisioned device and fetch an attestation token
 * ```ts
 * import { RseClient, RseServer } from 'rsekit/comms';
 * import { Device, DirStore } from 'rsekit/device';
 *
 * const server = new RseServer(Device.open(new DirStore('dev')));
 * server.boot();
 * const path = await server.listen({ path: '/tmp/rse.sock' });
 * const client = await RseClient.connect({ path });
 * const { status, outVecs } = await client.attestationToken(new Uint8Array(32));
 * client.close();
 * await server.close();
 * ```
 * @module
 */
export { PSA, PSA_ALG } from '../services/psa.ts';
export type { CallResult, ClientOptions, MbootReadOptions, MbootReadout } from './client.ts';
export { CLIENT_BUFFER_BASE, RseClient } from './client.ts';
export type { CtrlPacking } from './protocol.ts';
export type { Listen, ServeOptions } from './server.ts';
export { RseServer } from './server.ts';
export type { SmcFrame, SmcReply, SmcServeOptions } from './smc.ts';
export { SmcClient, SmcServer } from './smc.ts';
