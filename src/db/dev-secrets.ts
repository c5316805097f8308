import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";

/** Secrets of a development install (embedded cluster passwords, JWT secret), generated on first start and kept in the data folder. */
export interface DevSecrets {
  superuserPassword: string;
  ownerPassword: string;
  authenticatorPassword: string;
  /** HS256 secret of development servers that set no JWT_SECRET. */
  jwtSecret: string;
}

const SECRET_NAMES = ["superuserPassword", "ownerPassword", "authenticatorPassword", "jwtSecret"] as const;

/** Reads `<dataDir>/secrets.json` (mode 0600), adding any secret it lacks. */
export async function loadDevSecrets(dataDir: string): Promise<DevSecrets> {
  const file = path.join(dataDir, "secrets.json");
  const stored = await readJson(file);
  const secrets = Object.fromEntries(
    SECRET_NAMES.map((name) => [name, typeof stored[name] === "string" ? stored[name] : randomSecret()]),
  ) as unknown as DevSecrets;
  if (SECRET_NAMES.some((name) => stored[name] !== secrets[name])) {
    await fs.mkdir(dataDir, { recursive: true });
    await fs.writeFile(file, JSON.stringify({ ...stored, ...secrets }, null, 2), { mode: 0o600 });
  }
  return secrets;
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new Error(`Cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function randomSecret(): string {
  return randomBytes(24).toString("base64url");
}
