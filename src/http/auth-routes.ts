import express, { type Request, type Response, type Router } from "express";
import { MAIL_REQUEST_ANSWER } from "../auth/account-mail.ts";
import type { AuthService } from "../auth/auth-service.ts";
import { requireSession } from "./bearer.ts";
import { rememberMountPath } from "./metrics.ts";

/** The JSON body's fields (an empty object for anything else). */
export const body = (req: Request): Record<string, unknown> => {
  const sent: unknown = req.body;
  return sent && typeof sent === "object" && !Array.isArray(sent) ? (sent as Record<string, unknown>) : {};
};

/** Largest JSON body of the REST routes (413 beyond). */
export const REST_BODY_BYTES = 16 * 1024;

/** Where the routes below are mounted. */
export const AUTH_PATH = "/api/auth";

/** The seed's REST routes under AUTH_PATH, with its JSON shapes and status codes (the body is read by the app, see app.ts). */
export function authRoutes(auth: AuthService): Router {
  const router = express.Router();
  router.use(rememberMountPath(AUTH_PATH));
  router.post("/register", async (req, res) => {
    res.status(201).json(await auth.register(body(req), req.context.clientIp));
  });
  router.post("/login", async (req, res) => {
    res.json(await auth.login(body(req), req.context.clientIp));
  });
  router.post("/refresh", async (req, res) => {
    res.json(await auth.refresh(body(req)));
  });
  router.get("/session", async (req, res: Response) => {
    res.json(await auth.session(requireSession(req)));
  });
  router.post("/logout", async (req, res) => {
    await auth.logout(requireSession(req));
    res.status(204).end();
  });
  router.post("/change-password", async (req, res) => {
    await auth.changePassword(requireSession(req), body(req));
    res.status(204).end();
  });
  router.post("/confirm-password", async (req, res) => {
    res.json(await auth.confirmPassword(requireSession(req), body(req)));
  });
  router.post("/verify-email", async (req, res) => {
    await auth.verifyEmail(body(req), req.context.clientIp);
    res.status(204).end();
  });
  router.post("/resend-verification", async (req, res) => {
    await auth.resendVerification(body(req), req.context.clientIp);
    res.status(202).json(MAIL_REQUEST_ANSWER);
  });
  router.post("/forgot-password", async (req, res) => {
    await auth.forgotPassword(body(req), req.context.clientIp);
    res.status(202).json(MAIL_REQUEST_ANSWER);
  });
  router.post("/reset-password", async (req, res) => {
    await auth.resetPassword(body(req), req.context.clientIp);
    res.status(204).end();
  });
  router.get("/invitations", async (req, res) => {
    res.json({ invitations: await auth.invitations.list(requireSession(req)) });
  });
  router.post("/invitations", async (req, res) => {
    res.status(201).json(await auth.invitations.invite(requireSession(req), body(req)));
  });
  router.post("/invitations/:id/resend", async (req, res) => {
    res.status(202).json(await auth.invitations.resend(requireSession(req), req.params));
  });
  router.delete("/invitations/:id", async (req, res) => {
    await auth.invitations.revoke(requireSession(req), req.params);
    res.status(204).end();
  });
  router.post("/accept-invitation", async (req, res) => {
    res.json(await auth.acceptInvitation(body(req), req.context.clientIp));
  });
  router.post("/change-email", async (req, res) => {
    await auth.requestEmailChange(requireSession(req), body(req), req.context.clientIp);
    res.status(202).json(MAIL_REQUEST_ANSWER);
  });
  router.post("/confirm-email-change", async (req, res) => {
    res.json(await auth.confirmEmailChange(body(req), req.context.clientIp));
  });
  router.post("/cancel-email-change", async (req, res) => {
    await auth.cancelEmailChange(body(req), req.context.clientIp);
    res.status(204).end();
  });
  return router;
}
