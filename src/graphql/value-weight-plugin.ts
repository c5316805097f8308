/**
 * How much a value of a field may weigh in a response, for the cost estimate of
 * document-limits.ts: a value counts as one per started 100 characters of its column's width
 * (`varchar(10000)`: 100), so a page of descriptions costs what it can return, not one per row.
 * Unbounded `text` would make any estimate meaningless: the API's tables bound their text columns.
 */
export const CHARACTERS_PER_UNIT = 100;

/** The extension of a GraphQL field that carries its weight (absent: 1). */
export const WEIGHT_EXTENSION = "stoflowValueWeight";

declare global {
  namespace DataplanPg {
    interface PgCodecAttributeExtensions {
      /** The column's width in characters (`varchar(n)`), when it has one. */
      maxCharacters?: number;
    }
  }
}

/** varchar(n) and char(n) store n + 4 in atttypmod. */
const VARLENA_HEADER = 4;
const SIZED_TYPES = new Set(["varchar", "bpchar"]);

export const ValueWeightPlugin: GraphileConfig.Plugin = {
  name: "StoflowValueWeightPlugin",
  version: "1.0.0",
  description: "Each field's weight in the cost estimate, from its column's width",
  gather: {
    hooks: {
      pgCodecs_attribute(_info, { pgAttribute, attribute }) {
        const typeName = pgAttribute.getType()?.typname;
        if (!typeName || !SIZED_TYPES.has(typeName) || pgAttribute.atttypmod == null || pgAttribute.atttypmod <= VARLENA_HEADER) return;
        attribute.extensions = { ...attribute.extensions, maxCharacters: pgAttribute.atttypmod - VARLENA_HEADER };
      },
    },
  },
  schema: {
    hooks: {
      GraphQLObjectType_fields_field(field, _build, context) {
        // (The `keys` of grouped aggregates weigh 1 each: the estimate already takes a list of 100
        // keys per group where a group has one per groupBy column, which covers their width.)
        const { pgFieldAttribute } = context.scope as { pgFieldAttribute?: { extensions?: { maxCharacters?: number } } };
        const characters = pgFieldAttribute?.extensions?.maxCharacters;
        const weight = characters ? Math.ceil(characters / CHARACTERS_PER_UNIT) : 1;
        return weight > 1 ? { ...field, extensions: { ...field.extensions, [WEIGHT_EXTENSION]: weight } } : field;
      },
    },
  },
};
