import { OperationTypeNode, type DocumentNode } from "postgraphile/graphql";
import { HASHING_MUTATIONS } from "../auth/hashing-operations.ts";
import { contextOf } from "../http/request-context.ts";
import { rootOf } from "./operation-root.ts";

/** Whether the operation a request executes hashes a password. */
export function hashes(document: DocumentNode, operationName: string | null | undefined): boolean {
  const root = rootOf(document, operationName);
  return root?.type === OperationTypeNode.MUTATION && [...root.fields.values()].some((field) => HASHING_MUTATIONS.has(field));
}

/**
 * A GraphQL request that hashes a password (register, login… the same list as the REST routes')
 * leaves the server's line as soon as its document is known, before it executes: it waits in
 * bcrypt's own short line instead, like its REST twin, and never holds a server turn while a
 * hash runs. The document was admitted by the gate first (one hashing mutation per request).
 */
export const HashingPlugin: GraphileConfig.Plugin = {
  name: "StoflowHashingPlugin",
  version: "1.0.0",
  description: "GraphQL requests that hash a password leave the server's line for bcrypt's",
  grafast: {
    middleware: {
      execute(next, { args }) {
        const turn = contextOf(args.requestContext)?.serverTurn;
        if (turn && hashes(args.document, args.operationName)) turn.leave();
        return next();
      },
    },
  },
};
