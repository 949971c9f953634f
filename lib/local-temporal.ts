// A Temporal dev server for the e2e tests and the bench, through the SDK's test environment, on
// ports that cannot collide with another start (lib/ports.ts): the frontend, and the HTTP API and
// metrics ports the CLI would otherwise take at random from the ephemeral range.
import type { DataConverter } from '@temporalio/common';
import type { SearchAttributeKey, SearchAttributeType } from '@temporalio/common/lib/search-attributes.js';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { startOnFreePorts } from './ports.js';
import { tools } from './tools.js';

export interface LocalTemporalOptions {
  searchAttributes: SearchAttributeKey<SearchAttributeType>[];
  /** The environment's client seals payloads as Chiffon's own do (lib/payload-codec.ts). */
  dataConverter: DataConverter;
  /** More `temporal server start-dev` flags (the bench's BENCH_TEMPORAL_ARGS). */
  extraArgs?: string[];
}

export function startLocalTemporal(options: LocalTemporalOptions): Promise<TestWorkflowEnvironment> {
  return startOnFreePorts(3, ([port, httpPort, metricsPort]) =>
    TestWorkflowEnvironment.createLocal({
      client: { dataConverter: options.dataConverter },
      server: {
        executable: { type: 'existing-path', path: tools.temporalCli() },
        ip: '127.0.0.1',
        port,
        searchAttributes: options.searchAttributes,
        extraArgs: ['--http-port', String(httpPort), '--metrics-port', String(metricsPort), ...(options.extraArgs ?? [])],
      },
    }),
  );
}
