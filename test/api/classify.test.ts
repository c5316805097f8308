import createError from "http-errors";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { busy, classify, ClientError, refusalOf } from "../../src/errors.ts";

/** A PostgreSQL error as node-postgres throws it (pg.DatabaseError), with its SQLSTATE. */
function pgError(sqlstate: string, message: string): Error {
  const error = new pg.DatabaseError(message, message.length, "error");
  error.code = sqlstate;
  return error;
}

/**
 * classify (src/errors.ts) decides how every error a client may read is answered; REST's
 * responder, GraphQL's maskError and GraphQL's status plugin read it. Through HTTP the tests of
 * each path check the answers; here, the table itself, on the errors the libraries really throw.
 */
describe("classify", () => {
  it("answers a ClientError with its own status, code, message and Retry-After", () => {
    expect(classify(busy())).toEqual({ status: 503, code: "BUSY", message: "The server is busy; retry in 1 second", retryAfterSeconds: 1 });
    expect(classify(new ClientError("NOT_FOUND", 404, "No such invitation"))).toMatchObject({ status: 404, code: "NOT_FOUND" });
  });

  it("answers SQL's refusals that carry a status of their own as the app's errors, and masks the rest", () => {
    expect(classify(pgError("SFSES", "The session has ended"))).toMatchObject({
      status: 401,
      code: "INVALID_TOKEN",
      message: "The session has ended",
    });
    expect(classify(pgError("SFMNT", "client_7 lags"))).toMatchObject({ status: 503, code: "TENANT_MAINTENANCE", retryAfterSeconds: 60 });
    expect(classify(pgError("SFRAU", "Confirm your password first"))).toMatchObject({ status: 403, code: "REAUTHENTICATION_REQUIRED" });
    expect(classify(pgError("SFBIG", "The export is larger than 1 MB"))).toMatchObject({ status: 413, code: "EXPORT_TOO_LARGE" });
    expect(refusalOf(pgError("23505", 'duplicate key value violates unique constraint "users_email_key"'))).toBeUndefined();
    expect(classify(pgError("23505", 'duplicate key value violates unique constraint "users_email_key"'))).toBeUndefined();
    expect(classify(new Error("anything else"))).toBeUndefined();
    expect(classify(undefined)).toBeUndefined();
  });

  it("answers a database that cannot serve 503 UNAVAILABLE with Retry-After", () => {
    expect(classify(pgError("57P01", "terminating connection due to administrator command"))).toMatchObject({
      status: 503,
      code: "UNAVAILABLE",
      retryAfterSeconds: 5,
    });
    expect(classify(new Error("Connection terminated unexpectedly"))).toMatchObject({ status: 503, code: "UNAVAILABLE" });
  });

  it("answers body-parser's refusals 415 or 400/413 without their words, and masks a server error it reports", () => {
    expect(classify(createError(415, 'unsupported charset "LATIN1"', { type: "charset.unsupported" }))).toMatchObject({
      status: 415,
      code: "UNSUPPORTED_MEDIA_TYPE",
    });
    expect(classify(createError(413, "request entity too large", { type: "entity.too.large" }))).toEqual({
      status: 413,
      code: "BAD_REQUEST",
      message: "Request body too large",
    });
    expect(classify(createError(400, "Unexpected token } in JSON", { type: "entity.parse.failed" }))).toEqual({
      status: 400,
      code: "BAD_REQUEST",
      message: "Malformed request body",
    });
    expect(classify(createError(500, "stream is not readable"))).toBeUndefined();
  });
});
