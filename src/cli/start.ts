import { readDatabaseConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";

/** `npm start`: prepares the database (embedded unless DATABASE_URL is set) and serves until stopped. */
const database = await prepareDatabase(readDatabaseConfig(), (line) => console.log(line));
console.log("database ready");

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    await database.stop();
    process.exit(0);
  });
}
