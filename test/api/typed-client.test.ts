import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import { promisify } from "node:util";
import { generate } from "@graphql-codegen/cli";
import { describe, expect, it } from "vitest";
import config from "../../codegen.ts";

const OUTPUT = "examples/typed-client/gql";

describe("a typed client generated from the committed schema.graphql (README: Generating a typed client)", () => {
  it("generates with codegen.ts, every scalar mapped, and type-checks with the usage file", async () => {
    await fs.rm(OUTPUT, { recursive: true, force: true });
    await generate(config, true);
    const types = await fs.readFile(`${OUTPUT}/graphql.ts`, "utf8");
    expect(types).toMatch(/export type MyStockQuery = .*price: string/s);
    // examples/typed-client/stock.ts reads money as a string, and expects the compiler to refuse
    // it as a number (so a scalar mapped to `any` fails too).
    const tsc = await promisify(execFile)(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "examples/typed-client"])
      .catch((error: { stdout: string }) => ({ stdout: error.stdout }));
    expect(tsc.stdout).toBe("");
  });
});
