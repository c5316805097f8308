import { it } from "vitest";
import { asSession } from "./helpers/db.ts";
import { signUp, startTestGateway } from "./helpers/gateway.ts";
it("debug", async () => {
  const gw = await startTestGateway();
  const a = await signUp(gw.url);
  try {
    await asSession(gw.db.app, { role: "stoflow_admin", tenantId: a.tenant.id, userId: a.user.id }, (c) =>
      c.query("select * from app_private.invite('x@y.test', null, 'user', '1 day', 10, 10, 3600)"));
  } catch (e) { console.log("ERR", e); }
  await gw.close();
});
