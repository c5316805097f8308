import { constant, lambda, type FieldArgs, type Step } from "postgraphile/grafast";

interface PaginatedStep extends Step {
  setFirst($first: Step): void;
  setLast($last: Step): void;
}

/** pg-aggregates' field of a connection that returns one row per group (no first/last of its own). */
const GROUPED_AGGREGATES = "groupedAggregates";

/** groupedAggregates returns at most a page of groups, as the cost estimate assumes (one row per product otherwise). */
function groupsAtMost<F extends { plan?: unknown; description?: string | null | undefined }>(
  field: F,
  plan: (...args: never[]) => unknown,
  groups: number,
): F {
  return {
    ...field,
    description: `Grouped aggregates across the matching connection (ignoring before/after/first/last/offset): at most ${groups} groups.`,
    plan(...planArgs: never[]) {
      const $select = plan(...planArgs) as PaginatedStep;
      $select.setFirst(constant(groups));
      return $select;
    },
  };
}

/**
 * Every connection returns at most a page: without `first` or `last` (absent, null, or an unsent
 * variable) it returns `defaultPageSize` rows, so a list of lists can never return every row of
 * a table per parent. PostGraphile applies `first`/`last` from the arguments only when given; this
 * plugin takes both over and sets them together in the field's plan.
 */
export function pageSizePlugin(defaultPageSize: number): GraphileConfig.Plugin {
  const pageSize = (given: readonly [unknown, unknown]): number | null => {
    const [first, last] = given;
    if (first != null) return first as number;
    return last == null ? defaultPageSize : null;
  };
  return {
    name: "StoflowPageSizePlugin",
    version: "1.0.0",
    description: "A default page size, enforced, on every connection",
    schema: {
      hooks: {
        GraphQLObjectType_fields_field_args(args, _build, context) {
          if (!context.scope.isPgFieldConnection) return args;
          for (const name of ["first", "last"]) {
            if (args[name]) args[name] = { ...args[name], applyPlan: undefined };
          }
          return args;
        },
        GraphQLObjectType_fields_field(field, _build, context) {
          const plan = field.plan;
          if (context.scope.fieldName === GROUPED_AGGREGATES && plan) return groupsAtMost(field, plan, defaultPageSize);
          if (!context.scope.isPgFieldConnection || !plan) return field;
          return {
            ...field,
            plan(...planArgs: Parameters<typeof plan>) {
              const $connection = plan(...planArgs) as PaginatedStep;
              const fieldArgs = planArgs[1] as FieldArgs;
              // undefined when the field has no such argument (some connections cannot page backwards)
              const $first = fieldArgs.getRaw("first") as Step | undefined;
              const $last = fieldArgs.getRaw("last") as Step | undefined;
              $connection.setFirst(
                $connection.operationPlan.withRootLayerPlan(() =>
                  lambda([$first ?? constant(undefined), $last ?? constant(undefined)], pageSize, true),
                ),
              );
              if ($last) $connection.setLast($last);
              return $connection;
            },
          };
        },
      },
    },
  };
}
