import jwt from "jsonwebtoken";
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { graphql, http, signUp, startTestGateway, TEST_JWT_SECRET, type TestGateway } from "../helpers/gateway.ts";
import { attackRecorder } from "./recorder.ts";

const record = attackRecorder(import.meta.filename, "tokens");

let gw: TestGateway;
let victim: Awaited<ReturnType<typeof signUp>>;
let claims: { sub: string; tenant_id: number; role: string; sid: string };

beforeAll(async () => {
  gw = await startTestGateway();
  victim = await signUp(gw.url, "Victim Shop");
  claims = jwt.decode(victim.access_token) as typeof claims;
});
afterAll(() => gw.close());

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
/** Signs like the server does, but without an expiry unless the payload or options give one. */
const signWithoutExpiry = (payload: object, options: jwt.SignOptions = {}, secret: jwt.Secret = TEST_JWT_SECRET) =>
  jwt.sign(payload, secret, { algorithm: "HS256", issuer: "stoflow", audience: "stoflow-api", ...options });
const sign = (payload: object, options: jwt.SignOptions = {}, secret: jwt.Secret = TEST_JWT_SECRET) =>
  signWithoutExpiry(payload, { expiresIn: 600, ...options }, secret);
const valid = () => ({ tenant_id: claims.tenant_id, role: claims.role, sid: claims.sid, sub: claims.sub });

/** Every forged token, by the attack it stands for (built once the victim exists). */
const ATTACKS = [
  "alg none",
  "alg none, signature kept",
  "tampered payload (other tenant)",
  "tampered payload (user)",
  "tampered payload (role)",
  "wrong secret",
  "expired",
  "no exp",
  "nbf in the future",
  "wrong audience",
  "wrong issuer",
  "HS512 with the right secret",
  "role postgres",
  "role stoflow_authenticator",
  "role stoflow_auth",
  "role stoflow_admin (db role name)",
  "non-numeric tenant_id",
  "tenant_id as string",
  "tenant_id out of int range",
  "sub not a number",
  "other tenant with a live session id",
  "session id made up",
  "sid not a uuid",
  "huge token",
  "garbage",
] as const;

function forgeries(): Record<(typeof ATTACKS)[number], string> {
  const [header, payload, signature] = victim.access_token.split(".");
  const decoded = JSON.parse(Buffer.from(payload, "base64url").toString());
  return {
    "alg none": `${base64url({ alg: "none", typ: "JWT" })}.${payload}.`,
    "alg none, signature kept": `${base64url({ alg: "none", typ: "JWT" })}.${payload}.${signature}`,
    "tampered payload (other tenant)": `${header}.${base64url({ ...decoded, tenant_id: decoded.tenant_id + 1 })}.${signature}`,
    "tampered payload (user)": `${header}.${base64url({ ...decoded, sub: String(Number(decoded.sub) + 1) })}.${signature}`,
    "tampered payload (role)": `${header}.${base64url({ ...decoded, role: "viewer" })}.${signature}`,
    "wrong secret": sign(valid(), {}, "another-secret-that-is-also-32-characters"),
    expired: signWithoutExpiry({ ...valid(), exp: Math.floor(Date.now() / 1000) - 60 }),
    "no exp": signWithoutExpiry(valid()),
    "nbf in the future": sign(valid(), { notBefore: 3600 }),
    "wrong audience": sign(valid(), { audience: "someone-else" }),
    "wrong issuer": sign(valid(), { issuer: "evil" }),
    "HS512 with the right secret": sign(valid(), { algorithm: "HS512" }),
    "role postgres": sign({ ...valid(), role: "postgres" }),
    "role stoflow_authenticator": sign({ ...valid(), role: "stoflow_authenticator" }),
    "role stoflow_auth": sign({ ...valid(), role: "stoflow_auth" }),
    "role stoflow_admin (db role name)": sign({ ...valid(), role: "stoflow_admin" }),
    "non-numeric tenant_id": sign({ ...valid(), tenant_id: "1; drop schema public" }),
    "tenant_id as string": sign({ ...valid(), tenant_id: String(claims.tenant_id) }),
    "tenant_id out of int range": sign({ ...valid(), tenant_id: 2 ** 40 }),
    "sub not a number": sign({ ...valid(), sub: "admin" }),
    "other tenant with a live session id": sign({ ...valid(), tenant_id: claims.tenant_id + 1 }),
    "session id made up": sign({ ...valid(), sid: "00000000-0000-4000-8000-000000000000" }),
    "sid not a uuid": sign({ ...valid(), sid: "x' or '1'='1" }),
    "huge token": sign({ ...valid(), pad: "x".repeat(10_000) }),
    garbage: "not.a.jwt",
  };
}

describe("forged tokens are refused with 401 on every route", () => {
  it("accepts the genuine token (control)", async () => {
    expect((await http(gw.url, "GET", "/api/auth/session", { token: victim.access_token })).status).toBe(200);
    const res = await graphql(gw.url, "{ products { totalCount } }", {}, victim.access_token);
    expect(res.body).toEqual({ data: { products: { totalCount: 0 } } });
  });

  for (const attack of ATTACKS) {
    it(`refuses ${attack}`, async () => {
      const token = forgeries()[attack];
      // Probes (/health, /ready) read no token: they answer for the server, not for a user.
      for (const [method, path] of [
        ["GET", "/api/auth/session"],
        ["POST", "/api/auth/change-password"],
        ["GET", "/"],
        ["POST", "/api/auth/logout"],
      ] as const) {
        const res = await http(gw.url, method, path, { token });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get("www-authenticate")).toBe("Bearer");
      }
      const res = await graphql(gw.url, "{ products { totalCount } }", {}, token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ errors: [{ message: expect.any(String), extensions: { code: "INVALID_TOKEN" } }] });
      record(`forged token: ${attack}`, 5, "401 on 4 REST routes and on GraphQL");
    });
  }

  it("refuses other authorization schemes and malformed headers", async () => {
    for (const header of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer  ", `bearer${victim.access_token}`, `Token ${victim.access_token}`]) {
      const res = await http(gw.url, "GET", "/api/auth/session", { headers: { authorization: header } });
      expect(res.status, header).toBe(401);
    }
    record("other authorization schemes and malformed headers", 5, "401");
  });

  it("refuses a token of a deleted user and of a deleted tenant", async () => {
    const gone = await signUp(gw.url);
    await gw.db.owner.query("delete from users where id = $1", [gone.user.id]);
    expect((await http(gw.url, "GET", "/api/auth/session", { token: gone.access_token })).status).toBe(401);
    const goneTenant = await signUp(gw.url);
    await gw.db.owner.query("delete from tenants where id = $1", [goneTenant.tenant.id]);
    expect((await graphql(gw.url, "{ products { totalCount } }", {}, goneTenant.access_token)).status).toBe(401);
    record("token of a deleted user, of a deleted tenant", 2, "401");
  });
});

describe("asymmetric keys (RS256)", () => {
  it("refuses an HS256 token signed with the public key (algorithm confusion)", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    const rs = await startTestGateway({ JWT_PRIVATE_KEY: privateKey, JWT_PUBLIC_KEY: publicKey, JWT_SECRET: "" });
    try {
      const user = await signUp(rs.url, "RSA Shop");
      expect(jwt.decode(user.access_token, { complete: true })?.header.alg).toBe("RS256");
      expect((await http(rs.url, "GET", "/api/auth/session", { token: user.access_token })).status).toBe(200);
      const payload = jwt.decode(user.access_token) as object;
      const [, body] = user.access_token.split(".");
      const header = base64url({ alg: "HS256", typ: "JWT" });
      const { createHmac } = await import("node:crypto");
      const signature = createHmac("sha256", publicKey).update(`${header}.${body}`).digest("base64url");
      expect(payload).toBeTruthy();
      expect((await http(rs.url, "GET", "/api/auth/session", { token: `${header}.${body}.${signature}` })).status).toBe(401);
      record("algorithm confusion: HS256 signed with the RS256 public key", 1, "401");
    } finally {
      await rs.close();
    }
  });
});
