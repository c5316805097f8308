// A typed client of the Stoflow REST API: `npx openapi-typescript` writes ./api.ts from the
// server's /openapi.json, and openapi-fetch checks every call (path, body, answers) against it;
// run.ts runs the seed's flows. test/api/typed-rest-client.test.ts generates, type-checks and runs it.
import createClient from "openapi-fetch";
import type { paths } from "./api.ts";

/** A client of the server at `baseUrl`, signed in when given a token. */
export const stoflow = (baseUrl: string, token?: string) =>
  createClient<paths>({ baseUrl, headers: token ? { Authorization: `Bearer ${token}` } : {} });

/** The seed's flows, one call each: register, session, a wrong password, login, refresh, logout. */
export async function seedFlows(baseUrl: string, email: string) {
  const anonymous = stoflow(baseUrl);
  const password = "a long password";
  const registered = await anonymous.POST("/api/auth/register", {
    body: { name: "Vintage Lou", email, password, subscription_tier: "standard" },
  });
  if (!registered.data) throw new Error(`register: ${registered.error?.code}`);
  const { access_token: token, tenant } = registered.data;

  const session = await stoflow(baseUrl, token).GET("/api/auth/session");
  const wrong = await anonymous.POST("/api/auth/login", { body: { email, password: "not the password" } });
  const login = await anonymous.POST("/api/auth/login", { body: { email, password } });
  if (!login.data) throw new Error(`login: ${login.error?.code}`);
  const refreshed = await anonymous.POST("/api/auth/refresh", { body: { refresh_token: login.data.refresh_token } });
  if (!refreshed.data) throw new Error(`refresh: ${refreshed.error?.code}`);
  const signedIn = stoflow(baseUrl, refreshed.data.access_token);
  const logout = await signedIn.POST("/api/auth/logout");
  const afterLogout = await signedIn.GET("/api/auth/session");

  return {
    tenant: { name: tenant.name, tier: tenant.subscription_tier, schema: tenant.schema_name },
    session: { status: session.response.status, email: session.data?.user.email, role: session.data?.user.role },
    wrongPassword: { status: wrong.response.status, code: wrong.error?.code },
    login: login.response.status,
    refresh: { status: refreshed.response.status, newPair: refreshed.data.refresh_token !== login.data.refresh_token },
    logout: logout.response.status,
    afterLogout: { status: afterLogout.response.status, code: afterLogout.error?.code },
  };
}

/** Never called: what the compiler refuses (test/api/typed-rest-client.test.ts type-checks this file). */
export async function refusedByTheCompiler(baseUrl: string) {
  const client = stoflow(baseUrl);
  // @ts-expect-error a password is required to sign in
  await client.POST("/api/auth/login", { body: { email: "lou@example.com" } });
  // @ts-expect-error no such route
  await client.GET("/api/auth/sessions");
  const { data, error } = await client.GET("/api/auth/session");
  // @ts-expect-error the session has no password hash, nor any field the document does not list
  console.log(data?.user.password_hash);
  // @ts-expect-error the session's refusals carry no such code (each route lists its own)
  if (error?.code === "EMAIL_TAKEN") console.log(error.detail);
  const login = await client.POST("/api/auth/login", { body: { email: "lou@example.com", password: "a long password" } });
  // @ts-expect-error sign-in's refusals carry no such code either
  if (login.error?.code === "TOKEN_EXPIRED") console.log(login.error.detail);
}
