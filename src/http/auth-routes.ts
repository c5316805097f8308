import express, { type Request, type Response, type Router } from "express";
import type { AuthService } from "../auth/service.ts";
import { requireSession } from "./bearer.ts";

const body = (req: Request): Record<string, unknown> =>
  req.body && typeof req.body === "object" && !Array.isArray(req.body) ? req.body : {};

/** Largest JSON body of the REST routes (413 beyond). */
export const REST_BODY_LIMIT = "16kb";

/** The seed's REST routes under /api/auth, with its JSON shapes and status codes (the body is read by the app, see app.ts). */
export function authRoutes(auth: AuthService): Router {
  const router = express.Router();
  router.post("/register", async (req, res) => {
    res.status(201).json(await auth.register(body(req), req.ip ?? "unknown"));
  });
  router.post("/login", async (req, res) => {
    res.json(await auth.login(body(req), req.ip ?? "unknown"));
  });
  router.post("/refresh", async (req, res) => {
    res.json(await auth.refresh(body(req)));
  });
  router.get("/session", async (_req, res: Response) => {
    res.json(await auth.session(requireSession(res)));
  });
  router.post("/logout", async (_req, res) => {
    await auth.logout(requireSession(res));
    res.status(204).end();
  });
  router.post("/change-password", async (req, res) => {
    await auth.changePassword(requireSession(res), body(req));
    res.status(204).end();
  });
  return router;
}
