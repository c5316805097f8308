import { installJobQueue } from "../jobs/queue-schema.ts";

/** graphile-migrate's afterReset hook (.gmrc): the job queue's schema in the database just recreated (GM_DBURL). */
await installJobQueue(process.env.GM_DBURL!);
