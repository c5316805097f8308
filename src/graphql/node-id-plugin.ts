/** Longest node id decoded (base64 of `["PublicationsHistory", 9007199254740991]` is 56 characters; a sku of 100 about 200). */
const MAX_NODE_ID_LENGTH = 1_000;
/** Type name and key values: our keys have one column, a composite key a few. */
const MAX_NODE_ID_PARTS = 8;

const isKeyValue = (value: unknown) => typeof value === "string" || (typeof value === "number" && Number.isFinite(value));

/**
 * PostGraphile's `base64JSON` node ids (graphile-build's NodeIdCodecBase64JSONPlugin, which this
 * replaces: same encoding, so ids do not change), decoded only when they can be ids: at most
 * MAX_NODE_ID_LENGTH characters, then a flat array of a type name and key values. Anything else
 * (an array nested 5,000 deep, an object, a megabyte) fails to decode, which grafast answers as
 * an id that names no row (null, or NOT_FOUND for a write), never a key value the SQL layer chokes on.
 * Only the spelling the server gives is decoded, and a table's handler (wrapped as it is
 * registered) matches only ids with exactly its key count: one row, one id.
 */
export function decodeNodeId(value: unknown): unknown[] {
  if (typeof value !== "string" || value.length > MAX_NODE_ID_LENGTH) throw new Error("Not a node id");
  const decoded: unknown = JSON.parse(Buffer.from(value, "base64").toString("utf8"));
  const flat =
    Array.isArray(decoded) &&
    decoded.length >= 2 &&
    decoded.length <= MAX_NODE_ID_PARTS &&
    typeof decoded[0] === "string" &&
    decoded.slice(1).every(isKeyValue);
  // Only the id the server gives: not url-safe base64, extra padding, whitespace or other JSON spellings of it.
  if (!flat || encodeNodeId(decoded) !== value) throw new Error("Not a node id");
  return decoded;
}

const encodeNodeId = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8").toString("base64");

type NodeIdHandler = Parameters<NonNullable<GraphileBuild.Build["registerNodeIdHandler"]>>[0];

/** The integer types' ranges: a key value outside them names no row (PostgreSQL would refuse the cast). */
const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  int2: [-(2n ** 15n), 2n ** 15n - 1n],
  int4: [-(2n ** 31n), 2n ** 31n - 1n],
  int8: [-(2n ** 63n), 2n ** 63n - 1n],
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a decoded key value can be a value of the key column's type (its codec's name), spelled
 * as the server spells it: int2 and int4 as JSON numbers, int8 as a string of digits (pg gives
 * bigints as text). So `["PublicationsHistory", "1"]` is not a second id of row 1.
 */
export function fitsKeyType(codecName: string, value: unknown): boolean {
  const range = INTEGER_RANGES[codecName];
  if (!range) return codecName !== "uuid" || (typeof value === "string" && UUID.test(value));
  const spelled = codecName === "int8" ? typeof value === "string" : typeof value === "number";
  const digits = String(value);
  return spelled && /^-?[0-9]{1,19}$/.test(digits) && BigInt(digits) >= range[0] && BigInt(digits) <= range[1];
}

/** The codec names of the primary key columns of `typeName`'s table (undefined when not a table's). */
function keyTypesOf(build: GraphileBuild.Build, typeName: string): string[] | undefined {
  const { pgCodec } = (build.getTypeMetaByName(typeName)?.scope ?? {}) as GraphileBuild.ScopeObject;
  const resource = pgCodec && build.pgTableResource(pgCodec as Parameters<typeof build.pgTableResource>[0]);
  const primary = resource?.uniques.find((unique: { isPrimary?: boolean }) => unique.isPrimary);
  const attributes = resource?.codec.attributes as Record<string, { codec: { name: string } }> | undefined;
  return primary && attributes && primary.attributes.map((name: string) => attributes[name].codec.name);
}

/**
 * The handler, matching only ids with exactly its key count, each value fit for its column's type:
 * ["Product","SKU-1","x"] and ["PublicationsHistory","abc"] name no row, as PostgreSQL would
 * refuse the second with its own words (`invalid input syntax for type integer`).
 */
function exactKeys(build: GraphileBuild.Build, handler: NodeIdHandler): NodeIdHandler {
  const types = keyTypesOf(build, handler.typeName);
  if (types === undefined) return handler;
  const fits = (specifier: unknown) =>
    Array.isArray(specifier) &&
    specifier.length === types.length + 1 &&
    types.every((type, index) => fitsKeyType(type, specifier[index + 1]));
  return { ...handler, match: (specifier) => fits(specifier) && handler.match(specifier) };
}

export const BoundedNodeIdPlugin: GraphileConfig.Plugin = {
  name: "StoflowBoundedNodeIdPlugin",
  version: "1.0.0",
  description: "The base64JSON node id codec, decoding only canonical ids of a bounded size and a flat shape, with their type's key count",
  schema: {
    hooks: {
      // In `build`, after NodePlugin's (which makes registerNodeIdCodec), before any `init` asks for the codec.
      build(build) {
        const { markSyncAndSafe } = build.grafast;
        build.registerNodeIdCodec?.({ name: "base64JSON", encode: markSyncAndSafe(encodeNodeId), decode: markSyncAndSafe(decodeNodeId) });
        const register = build.registerNodeIdHandler;
        if (register) build.registerNodeIdHandler = (handler) => register(exactKeys(build as GraphileBuild.Build, handler));
        return build;
      },
    },
  },
};
