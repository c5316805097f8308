import fs from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { printApiSchema } from "../../src/cli/export-schema.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";

let db: TestDatabase;
let printed: string;
beforeAll(async () => {
  db = await createTestDatabase();
  printed = await printApiSchema(db.appUrl);
});
afterAll(() => db.close());

describe("the GraphQL schema", () => {
  it("matches the committed schema.graphql (run `npm run schema:export` after a change)", async () => {
    expect(printed).toBe(await fs.readFile("schema.graphql", "utf8"));
  });

  it("exposes no password or hash field", () => {
    expect(printed).not.toMatch(/password_?hash|hashedPassword|passwordHash|userSecret/i);
  });

  it("offers writes only where the roles have grants", () => {
    const mutations = printed.match(/^type Mutation \{[\s\S]*?^\}/m)![0];
    for (const forbidden of ["createTenant", "createUser", "createTier", "createPlatformMapping", "deletePublicationsHistory", "updateAiGenerationsLog", "deleteAiGenerationsLog"]) {
      expect(mutations).not.toMatch(new RegExp(`\\b${forbidden}\\b`));
    }
    for (const allowed of ["createProduct", "updateProduct", "deleteProduct", "createVintedProduct", "createPublicationsHistory", "createAiGenerationsLog", "register", "login"]) {
      expect(mutations).toMatch(new RegExp(`\\b${allowed}\\(`));
    }
  });
});
