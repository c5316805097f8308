import fs from "node:fs";
import { buildSchema, parse, validate } from "postgraphile/graphql";
import { describe, expect, it } from "vitest";
import { checkVariables, compileDocument } from "../../src/graphql/document-limits.ts";
import { testServerConfig } from "../helpers/gateway.ts";

/**
 * The static limits of a document (src/graphql/document-limits.ts) on the committed API schema,
 * for the shapes the HTTP tests (test/attacks/hostile-documents.test.ts) do not send.
 */
const schema = buildSchema(fs.readFileSync("schema.graphql", "utf8"));
const limits = testServerConfig().graphql;
const PASSWORD_MUTATIONS = new Set(["register", "login", "changePassword", "confirmPassword"]);

function compile(document: string, own = limits) {
  return compileDocument(schema, parse(document), own, PASSWORD_MUTATIONS);
}

/** The code a document is refused with, checked with `variables` as a request would be; undefined when it passes. */
function refusal(document: string, variables: Record<string, unknown> = {}, own = limits): string | undefined {
  try {
    for (const operation of compile(document, own)) checkVariables(operation, variables, own);
    return undefined;
  } catch (error) {
    return (error as { extensions?: { code?: string } }).extensions?.code;
  }
}

const aliases = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}${i}: __typename`).join(" ");

describe("document limits", () => {
  it("count the aliases of inline fragments, with or without a type condition, even one the schema lacks", () => {
    const split = (first: number, second: number) => `{ ... on Query { ${aliases(first, "a")} } ... { ${aliases(second, "b")} } }`;
    expect(refusal(split(limits.maxAliases - 10, 10))).toBeUndefined();
    expect(refusal(split(limits.maxAliases - 10, 11))).toBe("TOO_MANY_ALIASES");

    expect(refusal(`{ ... { tiers { nodes { name } } } }`)).toBeUndefined();
    expect(refusal(`{ ... on NoSuchType { ${aliases(limits.maxAliases + 1, "c")} } }`)).toBe("TOO_MANY_ALIASES");
  });

  it("leave a fragment cycle and an unknown fragment to validation, without looping", () => {
    const cycle = "{ ...A } fragment A on Query { ...B tiers { totalCount } } fragment B on Query { ...A }";
    expect(compile(cycle)).toHaveLength(1);
    expect(validate(schema, parse(cycle)).map((error) => error.message)).toContainEqual(
      expect.stringMatching(/Cannot spread fragment "A" within itself/),
    );
    expect(compile("{ ...Missing }")).toHaveLength(1);
    expect(validate(schema, parse("{ ...Missing }")).map((error) => error.message)).toEqual(['Unknown fragment "Missing".']);
  });

  it("take a page size from a variable's default, null and non-numbers meaning the default page", () => {
    const products = (definition: string) => `query(${definition}) { products(first: $n) { nodes { title } } }`;
    expect(refusal(products(`$n: Int = ${limits.maxPageSize + 1}`))).toBe("PAGE_SIZE_TOO_LARGE");
    expect(refusal(products(`$n: Int = ${limits.maxPageSize + 1}`), { n: 10 })).toBeUndefined();
    expect(refusal(products("$n: Int = null"))).toBeUndefined();
    expect(
      refusal(`query($n: Int = 5, $s: String = "x") { products(first: $n, filter: { title: { equalTo: $s } }) { nodes { title } } }`),
    ).toBeUndefined();
    expect(refusal("{ products(offset: 5, first: 10) { nodes { title } } }")).toBeUndefined();
    expect(refusal("{ products(offset: -1, first: 10) { nodes { title } } }")).toBe("INVALID_INPUT");
  });

  it("refuse reading the schema where introspection is off, but not __typename", () => {
    const closed = { ...limits, introspection: false };
    expect(refusal("{ __schema { queryType { name } } }", {}, closed)).toBe("INTROSPECTION_DISABLED");
    expect(refusal("{ __typename }", {}, closed)).toBeUndefined();
    expect(refusal("{ a: __schema { queryType { name } } b: __schema { queryType { name } } }")).toBe("QUERY_TOO_COSTLY");
  });
});
