import {
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type OperationDefinitionNode,
  type OperationTypeNode,
  type SelectionSetNode,
} from "postgraphile/graphql";

/** The operation a request executes: its type, and its root fields by response key (alias or name), through fragments. */
export interface OperationRoot {
  type: OperationTypeNode;
  fields: ReadonlyMap<string, string>;
}

/** The root fields of `set` by response key, through inline fragments and fragment spreads (each fragment once). */
function rootFieldsOf(
  set: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  into: Map<string, string>,
  seen: Set<string>,
): Map<string, string> {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) into.set(selection.alias?.value ?? selection.name.value, selection.name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) rootFieldsOf(selection.selectionSet, fragments, into, seen);
    else {
      const fragment = fragments.get(selection.name.value);
      if (!fragment || seen.has(fragment.name.value)) continue;
      seen.add(fragment.name.value);
      rootFieldsOf(fragment.selectionSet, fragments, into, seen);
    }
  }
  return into;
}

/** The roots of a document's operations, by name ("" for the anonymous one), found once per document. */
const rootsOfDocument = new WeakMap<DocumentNode, Map<string, OperationRoot>>();

/** The root of the operation named `operationName` in `document` (or of its only operation). */
export function rootOf(document: DocumentNode, operationName: string | null | undefined): OperationRoot | undefined {
  let roots = rootsOfDocument.get(document);
  if (!roots) {
    const fragments = new Map(document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
    const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    roots = new Map(
      operations.map((o) => [
        o.name?.value ?? "",
        { type: o.operation, fields: rootFieldsOf(o.selectionSet, fragments, new Map(), new Set()) },
      ]),
    );
    rootsOfDocument.set(document, roots);
  }
  return operationName ? roots.get(operationName) : roots.size === 1 ? roots.values().next().value : undefined;
}
