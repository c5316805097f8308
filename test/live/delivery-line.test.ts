import { describe, expect, it } from "vitest";
import { DeliveryLine } from "../../src/live/delivery-line.ts";
import { parseNotification } from "../../src/live/hub.ts";

describe("the delivery line", () => {
  it("gives turns to tenants in rotation: a fan-out of 1,000 waiting deliveries lets another tenant's one through next", async () => {
    const line = new DeliveryLine(2);
    const order: string[] = [];
    await line.take("1");
    await line.take("1");
    const waiting = [
      ...Array.from({ length: 1_000 }, () => line.take("1").then(() => order.push("1"))),
      line.take("2").then(() => order.push("2")),
    ];
    line.give();
    line.give();
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(["1", "2"]);
    for (let i = 0; i < 1_000; i++) line.give();
    await Promise.all(waiting);
    expect(order.length).toBe(1_001);
  });
});

describe("notifications", () => {
  it("are read only in their exact shape: anything else is dropped", () => {
    expect(parseNotification(JSON.stringify({ t: 7, k: "product", op: "DELETE", id: "A" }))).toEqual({
      topic: "7:product",
      change: { event: "DELETED", key: "A" },
    });
    for (const bad of [
      "",
      "null",
      "[]",
      '{"t":0,"k":"product","op":"INSERT","id":"x"}',
      '{"t":1,"k":"toString","op":"INSERT","id":"x"}',
      '{"t":1,"k":"product","op":"TRUNCATE","id":"x"}',
      '{"t":1,"k":"product","op":"INSERT","id":null}',
    ]) {
      expect(parseNotification(bad)).toBeUndefined();
    }
  });
});
