import type { GrafastExecutionArgs } from "postgraphile/grafast";
import { GraphQLError, type ExecutionResult } from "postgraphile/graphql";
import { busy } from "../errors.ts";
import type { ExportConfig } from "../config/graphql.ts";
import { FairLine } from "../admission/fair-line.ts";
import type { DocumentGate } from "./document-gate.ts";

/** The Query field that builds one JSON document of a whole tenant (SQL public.export_tenant_data). */
export const EXPORT_FIELD = "exportTenantData";

/** The transaction settings export_tenant_data reads its bound from ('0': no bound). */
export const EXPORT_MAX_BYTES_SETTING = "stoflow.export_max_bytes";

const EXPORT_BUSY = "Exports are built a few at a time, one per tenant; retry in 1 second";

/**
 * Tenant exports run in a line of their own: each holds a connection and a document of up to
 * EXPORT_MAX_BYTES for seconds, so at most `concurrency` are built at once server-wide, `queue`
 * more wait (shared fairly between tenants, see FairLine), and a tenant has one export running or
 * waiting at a time; beyond, 503 BUSY with Retry-After. The line is held for the whole execution.
 * Every operation that selects the export also gets the export's bound and time limit as
 * transaction settings, which the database enforces (EXPORT_TOO_LARGE).
 */
export function exportLinePlugin(gate: DocumentGate, config: ExportConfig): GraphileConfig.Plugin {
  const line = new FairLine({ active: config.concurrency, waiting: config.queue });
  const tenantsInLine = new Set<number>();
  return {
    name: "StoflowExportLinePlugin",
    version: "1.0.0",
    description: "Tenant exports a few at a time, one per tenant, bounded in bytes and time",
    grafast: {
      middleware: {
        execute(next, { args }) {
          if (!gate.operationOf(args)?.root.exportFields) return next();
          boundExport(args, config);
          const session = (args.contextValue as Grafast.Context).session;
          // Only admins may export (the database refuses the others at once): nobody else queues.
          if (session?.role !== "admin") return next();
          const tenant = session.tenantId;
          if (tenantsInLine.has(tenant)) return refusedAsBusy();
          tenantsInLine.add(tenant);
          line.weigh(String(tenant));
          const refusal = busy(EXPORT_BUSY);
          return line
            .run(
              String(tenant),
              async () => next(),
              () => refusal,
            )
            .catch((error: unknown) => {
              if (error !== refusal) throw error;
              return refusedAsBusy();
            })
            .finally(() => tenantsInLine.delete(tenant));
        },
      },
    },
  };
}

/** The export's bound and time limit, set in its transaction with the request's other settings. */
function boundExport(args: GrafastExecutionArgs, config: ExportConfig): void {
  const context = args.contextValue as Grafast.Context;
  context.pgSettings = {
    ...context.pgSettings,
    [EXPORT_MAX_BYTES_SETTING]: String(config.maxBytes),
    statement_timeout: `${config.timeoutSeconds}s`,
  };
}

/** BUSY in GraphQL's shape (answered 503 with Retry-After by AnswerStatusPlugin). */
function refusedAsBusy(): ExecutionResult {
  const refusal = busy(EXPORT_BUSY);
  return { errors: [new GraphQLError(refusal.message, { originalError: refusal })] };
}
