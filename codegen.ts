import type { CodegenConfig } from "@graphql-codegen/cli";

/**
 * GraphQL Code Generator for a typed client of the Stoflow API (README: "Generating a typed
 * client"): `npx graphql-codegen` reads the committed schema.graphql (or a running server's
 * /graphql) and the `graphql(…)` documents of examples/typed-client, and writes their types.
 */

/**
 * How each custom scalar travels in JSON. Money (`BigFloat`: numeric columns) and `BigInt` come
 * as strings so that no digit is lost to floating point; send them as strings too.
 */
export const scalars = {
  BigFloat: "string", // exact decimal, e.g. "45.00": money
  BigInt: "string", // 64-bit integer, e.g. counts and sums
  Cursor: "string", // opaque pagination cursor: pass back as `after` / `before`
  Datetime: "string", // ISO 8601 with time zone, e.g. "2026-11-25T07:00:00.000000+00:00"
  JSON: "unknown", // any JSON value: check it before use
};

const config: CodegenConfig = {
  schema: process.env.STOFLOW_GRAPHQL_SCHEMA ?? "schema.graphql",
  documents: ["examples/typed-client/**/*.ts", "!examples/typed-client/gql/**"],
  // A scalar added to the schema without a mapping here fails generation instead of becoming `any`.
  config: { scalars, strictScalars: true, enumsAsTypes: true, useTypeImports: true },
  // Imports name the generated `.ts` files: Node runs them as they are (type stripping, no build
  // step), and so do TypeScript (allowImportingTsExtensions), Vite, esbuild and Bun.
  importExtension: ".ts",
  generates: {
    "examples/typed-client/gql/": {
      preset: "client",
      config: { documentMode: "string" },
      presetConfig: { fragmentMasking: false },
    },
  },
  silent: true,
};

export default config;
