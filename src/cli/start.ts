import { readDatabaseConfig, readServerConfig } from "../config.ts";
import { prepareDatabase } from "../db/database.ts";
import { loadDevSecrets } from "../db/dev-secrets.ts";
import { startGateway } from "../server.ts";

/** `npm start`: prepares the database (embedded unless DATABASE_URL is set) and serves the API. */
const databaseConfig = readDatabaseConfig();
const generatedSecret = process.env.NODE_ENV === "production" ? undefined : (await loadDevSecrets(databaseConfig.dataDir)).jwtSecret;
const serverConfig = readServerConfig(process.env, generatedSecret);
const database = await prepareDatabase(databaseConfig, (line) => console.log(line));
const gateway = await startGateway(database.appUrl, serverConfig).catch(async (error) => {
  await database.stop();
  throw error;
});
console.log(`Stoflow API on ${gateway.url} (GraphQL ${gateway.url}/graphql, explorer ${gateway.url}/graphiql)`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    await gateway.close();
    await database.stop();
    process.exit(0);
  });
}
