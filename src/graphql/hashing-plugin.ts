import {
  Kind,
  OperationTypeNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "postgraphile/graphql";
import { HASHING_MUTATIONS } from "../auth/hashing-operations.ts";
import { contextOf } from "../http/request-context.ts";

/** Whether a selection set of Mutation names a hashing mutation, through inline fragments and fragment spreads. */
function selectsHashing(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>): boolean {
  return set.selections.some((selection) => {
    if (selection.kind === Kind.FIELD) return HASHING_MUTATIONS.has(selection.name.value);
    if (selection.kind === Kind.INLINE_FRAGMENT) return selectsHashing(selection.selectionSet, fragments, seen);
    const fragment = fragments.get(selection.name.value);
    if (!fragment || seen.has(fragment.name.value)) return false;
    seen.add(fragment.name.value);
    return selectsHashing(fragment.selectionSet, fragments, seen);
  });
}

/** The operations of a document that hash a password, by name ("" for the anonymous one), found once per document. */
const hashingOperations = new WeakMap<DocumentNode, Set<string>>();

/** Whether the operation a request executes hashes a password. */
export function hashes(document: DocumentNode, operationName: string | null | undefined): boolean {
  let names = hashingOperations.get(document);
  if (!names) {
    const fragments = new Map(document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
    const mutations = document.definitions.filter(
      (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && d.operation === OperationTypeNode.MUTATION,
    );
    names = new Set(mutations.filter((m) => selectsHashing(m.selectionSet, fragments, new Set())).map((m) => m.name?.value ?? ""));
    hashingOperations.set(document, names);
  }
  return operationName ? names.has(operationName) : names.size > 0;
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
