import { execFile } from "node:child_process";
import fs from "node:fs/promises";
import { promisify } from "node:util";
import { generate } from "@graphql-codegen/cli";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import config from "../../codegen.ts";
import { signUp, startTestGateway, type TestGateway } from "../helpers/gateway.ts";

const OUTPUT = "examples/typed-client/gql";
const run = promisify(execFile);

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(() => gw?.close());

describe("a typed client generated from the committed schema.graphql (README: Generating a typed client)", () => {
  it("generates with codegen.ts, every scalar mapped, type-checks with the usage file, and runs on the project's Node as it is", async () => {
    await fs.rm(OUTPUT, { recursive: true, force: true });
    await generate(config, true);
    const types = await fs.readFile(`${OUTPUT}/graphql.ts`, "utf8");
    expect(types).toMatch(/export type MyStockQuery = .*price: string/s);
    // examples/typed-client/stock.ts reads money as a string, and expects the compiler to refuse
    // it as a number (so a scalar mapped to `any` fails too).
    const tsc = await run(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "examples/typed-client"]).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout }),
    );
    expect(tsc.stdout).toBe("");
    // As the README runs it: the generated .ts files under Node's type stripping, no build step.
    const shop = await signUp(gw.url);
    const { stdout } = await run(process.execPath, ["examples/typed-client/run.ts", `${gw.url}/graphql`], {
      env: { ...process.env, STOFLOW_TOKEN: shop.access_token },
    });
    expect(stdout).toMatch(/^JKT-\d+ 45\.00 \S+ not on Vinted string\nstock value: 45\.00\n$/);
  });
});
