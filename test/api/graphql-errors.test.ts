import http from "node:http";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http as request, signUp, startTestGateway, TEST_JWT_SECRET, type TestGateway } from "../helpers/gateway.ts";

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ GRAPHQL_MAX_BODY_BYTES: "1000" });
});
afterAll(() => gw.close());

const QUERY = "{ products { totalCount } }";
const ENDED = "Session ended or account inactive";

/** A GraphQL-shaped refusal: one error with its message and code, no `data`, the HTTP status kept. */
function expectRefusal(res: { status: number; body: unknown }, status: number, code: string, message: string | RegExp = /./) {
  expect(res.status).toBe(status);
  expect(res.body).toEqual({ errors: [{ message: expect.stringMatching(message), extensions: { code } }] });
}

/** A raw POST to /graphql, for bodies and headers `fetch` would not send. */
const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }) =>
  request(gw.url, "POST", "/graphql", { body, headers });

describe("every token failure on /graphql answers 401 in GraphQL's shape", () => {
  it("malformed Authorization headers", async () => {
    for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token abc", "Bearer not.a.jwt"]) {
      const res = await request(gw.url, "POST", "/graphql", { body: { query: QUERY }, headers: { authorization } });
      expectRefusal(res, 401, "INVALID_TOKEN");
      expect(res.headers.get("www-authenticate"), authorization).toBe("Bearer");
    }
  });

  it("also on /graphql/, with a trailing slash", async () => {
    const res = await request(gw.url, "POST", "/graphql/", { body: { query: QUERY }, headers: { authorization: "Bearer not.a.jwt" } });
    expectRefusal(res, 401, "INVALID_TOKEN");
  });

  it("other spellings of the path are not GraphQL: absolute-form, query strings and case are handled as the route is", async () => {
    // /graphql is served past Express (src/http/pipeline.ts): any target that reaches grafserv
    // another way would skip the lines, the body limit and the bearer check.
    const { port } = new URL(gw.url);
    const raw = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          {
            host: "127.0.0.1",
            port,
            method: "POST",
            path,
            headers: { "content-type": "application/json", authorization: "Bearer not.a.jwt" },
          },
          (res) => {
            let body = "";
            res.on("data", (chunk) => (body += chunk));
            res.on("end", () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on("error", reject);
        req.end(JSON.stringify({ query: "{ __typename }" }));
      });
    for (const path of [`http://127.0.0.1:${port}/graphql`, "/GRAPHQL", "//graphql", "/graphql/..", "/graphql%2F"]) {
      const res = await raw(path);
      expect([401, 404], path).toContain(res.status);
      expect(res.body, path).not.toContain("__typename");
    }
    expect((await raw("/graphql?x=1")).status).toBe(401);
  });

  it("expired, wrongly signed and made-up tokens", async () => {
    const shop = await signUp(gw.url);
    const { sub, tenant_id, role, sid } = jwt.decode(shop.access_token) as Record<string, unknown>;
    const claims = { sub, tenant_id, role, sid };
    const sign = (payload: object, secret = TEST_JWT_SECRET) =>
      jwt.sign(payload, secret, { algorithm: "HS256", issuer: "stoflow", audience: "stoflow-api" });
    const now = Math.floor(Date.now() / 1000);
    for (const token of [
      sign({ ...claims, iat: now - 120, exp: now - 60 }),
      sign({ ...claims, exp: now + 60 }, "another-secret-that-is-also-32-characters"),
      sign({ ...claims, exp: now + 60, sid: "00000000-0000-4000-8000-000000000000" }),
    ]) {
      expectRefusal(await graphql(gw.url, QUERY, {}, token), 401, "INVALID_TOKEN");
    }
  });

  it("a session ended by logout, by a password change, or by the reuse of its refresh token", async () => {
    const loggedOut = await signUp(gw.url);
    expect((await request(gw.url, "POST", "/api/auth/logout", { token: loggedOut.access_token })).status).toBe(204);
    expectRefusal(await graphql(gw.url, QUERY, {}, loggedOut.access_token), 401, "INVALID_TOKEN", ENDED);

    const changed = await signUp(gw.url);
    const other = await request(gw.url, "POST", "/api/auth/login", { body: { email: changed.email, password: changed.password } });
    const change = await request(gw.url, "POST", "/api/auth/change-password", {
      token: changed.access_token,
      body: { current_password: changed.password, new_password: "another long password" },
    });
    expect(change.status).toBe(204);
    expectRefusal(await graphql(gw.url, QUERY, {}, other.body.access_token), 401, "INVALID_TOKEN", ENDED);

    const replayed = await signUp(gw.url);
    for (let i = 0; i < 2; i++) await request(gw.url, "POST", "/api/auth/refresh", { body: { refresh_token: replayed.refresh_token } });
    expectRefusal(await graphql(gw.url, QUERY, {}, replayed.access_token), 401, "INVALID_TOKEN", ENDED);
  });

  it("a deactivated or deleted user, a deactivated or deleted tenant", async () => {
    const shops = await Promise.all([signUp(gw.url), signUp(gw.url), signUp(gw.url), signUp(gw.url)]);
    const [userOff, userGone, tenantOff, tenantGone] = shops;
    await gw.db.owner.query("update users set is_active = false where id = $1", [userOff!.user.id]);
    await gw.db.owner.query("delete from users where id = $1", [userGone!.user.id]);
    await gw.db.owner.query("update tenants set is_active = false where id = $1", [tenantOff!.tenant.id]);
    await gw.db.owner.query("delete from tenants where id = $1", [tenantGone!.tenant.id]);
    for (const shop of shops) expectRefusal(await graphql(gw.url, QUERY, {}, shop.access_token), 401, "INVALID_TOKEN");
  });
});

describe("grafserv's own refusals carry a code too", () => {
  it("malformed JSON, a body that is not an object, a missing query", async () => {
    expectRefusal(await post("{bad"), 400, "BAD_REQUEST");
    expectRefusal(await post("[]"), 400, "BAD_REQUEST");
    expectRefusal(await post("{}"), 400, "BAD_REQUEST", "query must be a string");
  });

  it("a body over GRAPHQL_MAX_BODY_BYTES (413)", async () => {
    expectRefusal(await post(JSON.stringify({ query: `{ __typename ${" ".repeat(2000)}}` })), 413, "BAD_REQUEST");
  });

  it("a wrong media type, method or Accept header", async () => {
    expectRefusal(await post("{}", { "content-type": "text/plain" }), 415, "UNSUPPORTED_MEDIA_TYPE");
    // Media types are case-insensitive: JSON is JSON however it is spelled.
    for (const type of ["APPLICATION/JSON", "Application/Json; charset=UTF-8"]) {
      const answer = await post(JSON.stringify({ query: "{ __typename }" }), { "content-type": type });
      expect(answer, type).toMatchObject({ status: 200, body: { data: { __typename: "Query" } } });
    }
    // REST: a body that is not JSON is refused for its media type, not read as {} and refused for its fields.
    const rest = await request(gw.url, "POST", "/api/auth/login", {
      body: "email=a@b.test&password=x",
      headers: { "content-type": "text/plain" },
    });
    expect(rest).toMatchObject({ status: 415, body: { code: "UNSUPPORTED_MEDIA_TYPE" } });
    // JSON in a charset other than UTF-8 is refused with the same code.
    for (const type of ["application/json;charset=latin1", "application/json; charset=ISO-8859-1"]) {
      const other = await request(gw.url, "POST", "/api/auth/login", {
        body: '{"email":"a@b.test","password":"x"}',
        headers: { "content-type": type },
      });
      expect(other, type).toMatchObject({ status: 415, body: { code: "UNSUPPORTED_MEDIA_TYPE" } });
    }
    expect(
      (
        await request(gw.url, "POST", "/api/auth/login", {
          body: { email: "a@b.test", password: "a long password" },
          headers: { "content-type": "Application/JSON" },
        })
      ).status,
    ).toBe(401);
    expectRefusal(await request(gw.url, "GET", "/graphql?query=%7B__typename%7D"), 405, "METHOD_NOT_ALLOWED");
    expectRefusal(
      await post(JSON.stringify({ query: "{ __typename }" }), { "content-type": "application/json", accept: "text/csv" }),
      406,
      "NOT_ACCEPTABLE",
    );
  });

  it("syntax and validation errors", async () => {
    const syntax = await graphql(gw.url, "{ products ");
    expect(syntax.status).toBe(400);
    expect(syntax.body.errors?.[0]).toMatchObject({ message: /^Syntax Error/, extensions: { code: "GRAPHQL_PARSE_FAILED" } });
    const invalid = await graphql(gw.url, "{ nope }");
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors?.[0]).toMatchObject({
      message: /Cannot query field "nope"/,
      extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
    });

    // Variables refused by type: missing, null for a non-null type, of the wrong type.
    const withVariable = "query($n: Int!) { products(first: $n) { totalCount } }";
    for (const variables of [{}, { n: null }, { n: "five" }, { n: { deep: [1] } }]) {
      const refused = await graphql(gw.url, withVariable, variables);
      expect(refused.status, JSON.stringify(variables)).toBe(400);
      expect(refused.body.errors?.[0]).toMatchObject({ message: /^Variable "\$n"/, extensions: { code: "GRAPHQL_VALIDATION_FAILED" } });
    }
  });

  it("suggest no names where introspection is off (production): a typo does not list the schema", async () => {
    const typos = [
      "{ prodcts { totalCount } }",
      "{ products(frist: 1) { totalCount } }",
      "{ products(orderBy: CREATED_AT_DES) { totalCount } }",
      "query($f: ProductFilter) { products(filter: $f) { totalCount } }",
    ];
    expect((await graphql(gw.url, typos[0])).body.errors?.[0]?.message).toMatch(/Did you mean "products"/);
    const production = await startTestGateway({ NODE_ENV: "production" });
    try {
      for (const typo of typos) {
        const answer = await graphql(production.url, typo, typo.includes("$f") ? { f: { skuu: { equalTo: "x" } } } : {});
        expect(answer.status, typo).toBe(400);
        expect(answer.body.errors?.[0]?.message, typo).not.toMatch(/Did you mean|"first"|CREATED_AT_DESC\b|"sku"/);
        expect(answer.body.errors?.[0]?.extensions?.code, typo).toBe("GRAPHQL_VALIDATION_FAILED");
      }
    } finally {
      await production.close();
    }
  });
});

describe("too many requests of one address (429)", () => {
  it("answers in GraphQL's shape with Retry-After", async () => {
    const narrow = await startTestGateway({ HTTP_CLIENT_CONCURRENCY: "1", HTTP_CLIENT_QUEUE: "0" });
    // One request whose body never ends holds the address's only place.
    const held = http.request(`${narrow.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "100" },
    });
    held.on("error", () => {});
    held.write("{");
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const res = await graphql(narrow.url, "{ __typename }");
      expectRefusal(res, 429, "TOO_MANY_REQUESTS");
      expect(res.headers.get("retry-after")).toBe("1");
    } finally {
      held.destroy();
      await narrow.close();
    }
  });
});

describe("PostgreSQL's refusals say nothing of the database", () => {
  it("an anonymous call of a function only tenants may run: FORBIDDEN, without the function's name", async () => {
    const res = await graphql(gw.url, "{ exportTenantData }");
    expect(res.body.errors?.[0]).toEqual(
      expect.objectContaining({ message: "Not allowed for your role or account", extensions: { code: "FORBIDDEN" } }),
    );
    expect(JSON.stringify(res.body)).not.toMatch(/export_tenant_data|permission denied|function/);
  });
});
