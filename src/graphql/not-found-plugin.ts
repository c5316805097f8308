import { flagError, lambda, trap, TRAP_INHIBITED, type ObjectStep, type Step } from "postgraphile/grafast";

/** What a write that matched no visible row yields: the error PostGraphile's deletes give (see errors.ts). */
function foundOrError(row: unknown): unknown {
  return row ?? flagError(new Error("No values were updated in collection: no row you can change matched"));
}

/**
 * An update or delete of a row that does not exist, or that the request may not see (another
 * tenant's, or one row-level security hides), answers NOT_FOUND, by key and by node id alike
 * (a node id of another type, or none at all, matches no row), instead of a silent
 * `{ product: null }`: a client cannot tell "not there" from "not yours", and cannot miss either.
 */
export const NotFoundPlugin: GraphileConfig.Plugin = {
  name: "StoflowNotFoundPlugin",
  version: "1.0.0",
  description: "NOT_FOUND when an update* or delete* mutation matched no row",
  schema: {
    hooks: {
      GraphQLObjectType_fields_field(field, _build, context) {
        const plan = field.plan;
        const { isPgUpdateMutation, isPgDeleteMutation } = context.scope;
        if (!(isPgUpdateMutation || isPgDeleteMutation) || !plan) return field;
        return {
          ...field,
          plan(...planArgs: Parameters<typeof plan>) {
            const $payload = plan(...planArgs) as ObjectStep<{ result: Step; found?: Step }>;
            const $row = $payload.get("result");
            // The payload now depends on the check, so it fails when no row was changed; a node id
            // that names no row inhibits the write, which the check sees as no row.
            $payload.set("found", lambda(trap($row, TRAP_INHIBITED), foundOrError, true));
            return $payload;
          },
        };
      },
    },
  },
};
