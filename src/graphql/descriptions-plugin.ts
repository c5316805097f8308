import { isEnumCodec, type PgCodec, type PgCodecWithAttributes, type PgEnumCodec } from "postgraphile/@dataplan/pg";

/** `@<tag> <name> <meaning>` smart tags (`@value` of an enum type, `@arg` of a function), by name. */
function describedNames(tags: unknown): Map<string, string> {
  const lines = Array.isArray(tags) ? tags : typeof tags === "string" ? [tags] : [];
  return new Map(
    lines.map((line) => {
      const [label, ...words] = String(line).split(" ");
      return [label, words.join(" ")];
    }),
  );
}

/**
 * Descriptions PostGraphile cannot take from the catalog by itself: each enum value's meaning (the
 * `@value` tags beside the type in SQL), each argument of a mutation function (its `@arg` tags),
 * money's scalar (PostGraphile calls BigFloat "a floating point number"), and the key arguments of
 * a get-by-key field (the description of their column).
 */
export const DescriptionsPlugin: GraphileConfig.Plugin = {
  name: "StoflowDescriptionsPlugin",
  version: "1.0.0",
  description: "Descriptions of enum values, function arguments, BigFloat and get-by-key arguments",
  schema: {
    hooks: {
      GraphQLEnumType_values_value(value, build, context) {
        if (value.description) return value;
        const codec = Object.values(build.input.pgRegistry.pgCodecs).find(
          (candidate: PgCodec) => isEnumCodec(candidate) && build.inflection.enumType(candidate) === context.Self.name,
        ) as PgEnumCodec | undefined;
        const description = codec && describedNames(codec.extensions?.tags?.value).get(String(value.value));
        return description ? { ...value, description } : value;
      },
      GraphQLInputObjectType_fields_field(field, build, context) {
        if (field.description || !context.scope.isMutationInput) return field;
        const resource = Object.values(build.input.pgRegistry.pgResources).find(
          (candidate) =>
            candidate.parameters && build.inflection.customMutationInput({ resource: candidate as never }) === context.Self.name,
        );
        const parameter = resource?.parameters?.find(
          (candidate) => candidate.name && build.inflection.camelCase(candidate.name) === context.scope.fieldName,
        );
        const description = parameter?.name && describedNames(resource?.extensions?.tags?.arg).get(parameter.name);
        return description ? { ...field, description } : field;
      },
      GraphQLScalarType(config) {
        if (config.name !== "BigFloat") return config;
        return {
          ...config,
          description: 'An exact decimal number, sent and received as a string ("45.00"): money above all. Never a float: no rounding.',
        };
      },
      GraphQLObjectType_fields_field(field, build, context) {
        const { isPgRowByUniqueConstraintField, pgFieldResource: resource } = context.scope;
        if (!isPgRowByUniqueConstraintField || !resource || !field.args) return field;
        const codec = resource.codec as PgCodecWithAttributes;
        const attributes = codec.attributes;
        const args = Object.fromEntries(
          Object.entries(field.args).map(([name, arg]) => {
            const attributeName = Object.keys(attributes).find(
              (attribute) => build.inflection.attribute({ attributeName: attribute, codec }) === name,
            );
            const description = arg.description ?? (attributeName && attributes[attributeName].description);
            return [name, description ? { ...arg, description } : arg];
          }),
        );
        return { ...field, args };
      },
    },
  },
};
