import { describe, expect, it } from "vitest";
import { startTestGateway } from "../helpers/gateway.ts";

describe("CORS", () => {
  it("answers allowed origins only", async () => {
    const gw = await startTestGateway({ CORS_ORIGINS: "https://app.stoflow.test, https://admin.stoflow.test" });
    try {
      const preflight = (origin: string) =>
        fetch(`${gw.url}/graphql`, {
          method: "OPTIONS",
          headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
        });
      const allowed = await preflight("https://app.stoflow.test");
      expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.stoflow.test");
      expect(allowed.headers.get("access-control-allow-headers")).toMatch(/authorization/i);
      const denied = await preflight("https://evil.test");
      expect(denied.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await gw.close();
    }
  });
});
