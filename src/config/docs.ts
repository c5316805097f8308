/**
 * The words of every setting: the README's configuration table (a row per idea: its names, its
 * meaning, and its default in words when it is computed) and `.env.example` (a section per group,
 * a short note per name). Names and plain defaults come from the readers (`settingsCatalog()`);
 * `npm run settings:docs` writes both files from this list, and test/docs/settings-drift.test.ts
 * fails while either is stale or a setting has no row here.
 */
export interface SettingRow {
  names: string[];
  /** The default in words (computed, or naming another setting); without it, each name's default from the readers. */
  shown?: string;
  meaning: string;
  /** `.env.example`'s note after a name. */
  notes?: Record<string, string>;
  /** `.env.example`'s value of a name, when not its plain default (or none for a default in words). */
  example?: Record<string, string>;
}

export interface SettingGroup {
  title: string;
  rows: SettingRow[];
}

export const settingGroups: SettingGroup[] = [
  {
    title: "HTTP server",
    rows: [
      {
        names: ["PORT"],
        meaning: "HTTP port of the API",
      },
      {
        names: ["NODE_ENV"],
        shown: "unset: development",
        meaning:
          "`production`: no generated secrets (`JWT_SECRET`, `SMTP_URL` and `APP_URL` required), no explorer, no introspection, no open metrics",
        notes: { NODE_ENV: "production: JWT_SECRET (or a key pair), SMTP_URL and APP_URL required; no generated secrets" },
      },
      {
        names: ["GRAPHILE_ENV"],
        shown: "`NODE_ENV`, else `development`",
        meaning: "Grafast's mode (`development` adds its checks, at some planning cost); set by every command before Grafast loads",
        notes: { GRAPHILE_ENV: "Grafast's mode; default: NODE_ENV, else development" },
      },
      {
        names: ["WEB_CONCURRENCY"],
        meaning: "Server processes sharing the port (Node cluster); the primary prepares the database once",
        notes: { WEB_CONCURRENCY: "server processes sharing the port" },
      },
      {
        names: ["LOG_LEVEL"],
        meaning: "JSON log level (`debug`, `info`, `warn`, `error`, `silent`)",
      },
      {
        names: ["CORS_ORIGINS"],
        shown: "unset (no CORS)",
        meaning: "Comma-separated origins allowed to call from a browser",
        notes: { CORS_ORIGINS: "e.g. https://app.stoflow.example,https://admin.stoflow.example" },
      },
      {
        names: ["TRUST_PROXY"],
        shown: "unset",
        meaning:
          "Express `trust proxy`: a number of proxy hops (`1` behind one load balancer), `true`, or addresses and subnets (`loopback, 10.0.0.0/8`), so that throttling sees the client address behind a load balancer. Unset behind a proxy, every client shares the proxy's address and its limits",
        notes: { TRUST_PROXY: "behind one load balancer: 1 (hops, true, or addresses)" },
      },
      {
        names: ["ENABLE_GRAPHIQL"],
        shown: "on, off in production",
        meaning: "Serve the explorer at `/graphiql`",
        notes: { ENABLE_GRAPHIQL: "default: on, off in production" },
      },
      {
        names: ["METRICS_TOKEN"],
        shown: "unset",
        meaning: "Bearer token `/metrics` requires; unset: open in development, 404 in production",
        notes: { METRICS_TOKEN: "bearer token for /metrics (production: /metrics is 404 without it)" },
      },
      {
        names: ["HTTP_CLIENT_CONCURRENCY", "HTTP_CLIENT_QUEUE"],
        meaning:
          "Requests of one client address worked on at once, and waiting their turn; beyond, 429 `TOO_MANY_REQUESTS` (set `TRUST_PROXY` behind a load balancer, or every client is one address)",
        notes: { HTTP_CLIENT_CONCURRENCY: "requests of one address worked on at once", HTTP_CLIENT_QUEUE: "... and waiting; beyond: 429" },
      },
      {
        names: ["HTTP_SERVER_CONCURRENCY", "HTTP_SERVER_QUEUE"],
        shown: "twice `DATABASE_POOL_SIZE` (`20`), `256`",
        meaning:
          "Requests of all clients together worked on at once (twice the pool, so that no connection waits idle while the next request is planned), and waiting their turn (after their address's turn and once the body is received, so that a client sending its body slowly holds none of these turns); beyond, 503 `BUSY` with `Retry-After: 1`, before any database work. The line is fair: a signed-in request is weighed as its tenant, an anonymous one as its address; the next turn goes to the signed-in tenant that sent the fewest requests in the last 10–20 s (one turn in four to the lightest anonymous address), and when the line is full a tenant's request takes the place of the busiest anonymous address's first, and a lighter client's the place of the busiest one's of its kind (addresses are cheap: 2,000 anonymous addresses each sending a request a second weighed less, one by one, than a seller's page). A turn ends when the answer is handed over, not when the client has read it. Probes and `/metrics` are not counted, so they answer while a crowd of addresses floods the API",
        notes: {
          HTTP_SERVER_CONCURRENCY: "requests of all addresses at once; default: twice DATABASE_POOL_SIZE",
          HTTP_SERVER_QUEUE: "... and waiting; beyond: 503 BUSY",
        },
        example: { HTTP_SERVER_QUEUE: "256" },
      },
      {
        names: ["HTTP_CLIENT_CONNECTIONS"],
        shown: "`256` (`0` when `TRUST_PROXY` is set)",
        meaning:
          "Most open sockets of one client address (an IPv6 client: per /64 network, which one client holds whole; the HTTP lines above count IPv6 clients the same way), while few addresses are connected: each address's share is `HTTP_MAX_CONNECTIONS` divided by the addresses connected, at most this, so it shrinks as a crowd connects. Beyond its share, a new connection is closed at once, before it is read. `0`: no share (behind a proxy every socket is the proxy's)",
        notes: {
          HTTP_CLIENT_CONNECTIONS:
            "most sockets of one address (its share shrinks as more addresses connect); default: 256, 0 (no limit) when TRUST_PROXY is set",
        },
      },
      {
        names: ["HTTP_CLIENT_CONNECTIONS_FLOOR"],
        meaning:
          "The least share of sockets of one address while the open sockets are under nine tenths of `HTTP_MAX_CONNECTIONS` (never above `HTTP_CLIENT_CONNECTIONS`): a browser's few connections beside a crowd of thousands of addresses short of the cap. Nearer the cap, the share goes down to 1",
      },
      {
        names: ["HTTP_MAX_CONNECTIONS"],
        shown: "¾ of the process's open-file limit",
        meaning:
          "Open sockets of all clients together. At the cap, a new connection takes the place of a socket that gives nothing back (idle after its answer, or without a whole request within `HTTP_SLOW_REQUEST_MS`), the busiest address's first (sockets held plus connections opened in the last 10–20 s); only when there is none is it closed at once. The process keeps files for its database connections and answers",
        notes: {
          HTTP_MAX_CONNECTIONS: "sockets of all addresses; default: 3/4 of the open-file limit; at the cap idle and slow sockets make room",
        },
      },
      {
        names: ["HTTP_HEADERS_TIMEOUT_MS", "HTTP_REQUEST_TIMEOUT_MS"],
        meaning: "Time a client has to send its headers, and its whole request (slowloris), whatever its rate",
        notes: { HTTP_HEADERS_TIMEOUT_MS: "slow senders lose their socket" },
      },
      {
        names: ["HTTP_SOCKET_TIMEOUT_MS"],
        meaning:
          "Time a socket may stay silent, neither sending nor taking its answer; then it is closed. A client that does not read its answers holds only its own address's turns (`HTTP_CLIENT_CONCURRENCY`) until then, none of the server's",
      },
      {
        names: ["HTTP_PIPELINED_REQUESTS"],
        meaning:
          "Requests one socket may have in progress at once (HTTP/1.1 pipelining, on the API's port; on the probe port, `PROBE_REQUESTS_PER_ADDRESS`); beyond, the socket is closed. Node reads a pipelining client's requests as fast as they come and keeps each until the earlier ones are answered: one socket pipelining `/health` took the server to gigabytes. Browsers and HTTP clients do not pipeline. Counted in `/metrics` (`stoflow_http_sockets{state=\"pipelined\"}`)",
      },
      {
        names: ["HTTP_ACCEPTORS"],
        meaning:
          "Listening sockets added to the API's port (`SO_REUSEPORT`, the kernel spreads new connections among them; none under `HTTP_WORKERS`, whose primary accepts). libuv accepts one connection per listening socket per iteration of the event loop: while a crowd kept each iteration busy, a newcomer waited seconds in the kernel's queue behind the crowd's connections (300 addresses reconnecting beside 300 pipelining: tenant p99 2.6 s with 8, 0.95 s with 32). The port must be free at start: a server of the same user holding it is refused, not shared",
        notes: { HTTP_ACCEPTORS: "more listening sockets on PORT, each accepting one connection per event-loop turn" },
      },
      {
        names: ["HTTP_REQUESTS_PER_ITERATION"],
        meaning:
          "Requests one iteration of the event loop starts on the API's port; beyond, a request waits for the next iteration, and waiting requests start one client (address, IPv6 /64) at a time in turn; a request whose bearer token verifies waits in a rotation of signed-in tenants (one turn per tenant), which gets three starts of every four while anonymous requests wait too. New connections are accepted and database answers read between iterations, so a crowd of cheap requests cannot make each iteration long enough to keep a newcomer out: 1,000 addresses pipelining 404s timed out every tenant request before. Counted in `/metrics` (`stoflow_http_requests_deferred`)",
        notes: { HTTP_REQUESTS_PER_ITERATION: "requests started per event-loop iteration; beyond, clients take turns" },
      },
      {
        names: ["HTTP_SLOW_REQUEST_MS"],
        meaning:
          "A socket that has not delivered a whole request this long after it connected or began its request is slow: at `HTTP_MAX_CONNECTIONS` it makes room for a new connection",
        notes: { HTTP_SLOW_REQUEST_MS: "no whole request this long: the socket may make room at the cap" },
      },
      {
        names: ["HTTP_MIN_RECEIVE_RATE", "HTTP_RECEIVE_GRACE_MS"],
        meaning:
          "Bytes a second a socket must send while it sends its headers, or a body the server reads, measured over each `HTTP_RECEIVE_GRACE_MS` after the first (Apache's `MinRate`, nginx's `client_body_timeout` in spirit); slower, it is closed. A connection that sends nothing is closed after about two graces. `0`: no minimum",
        notes: { HTTP_MIN_RECEIVE_RATE: "bytes/s of headers and bodies after the grace; 0 = no minimum" },
      },
      {
        names: ["HTTP_BODY_BUDGET_MB"],
        shown: "a 256th of the memory (the cgroup's limit, or the machine's), 16–256 (64 on a 16 GB machine)",
        meaning:
          "Bytes the bodies of all requests in progress may hold together, reserved as each request arrives (its `Content-Length`, or its route's largest body) and given back with its answer. A body that finds no room takes it from the address holding the most (its oldest body still arriving is closed) when that address holds more than the newcomer would; else 503 `BUSY` with `Retry-After: 1`, the body never read. A flood of slow bodies then holds at most this much memory, and a tenant's small request still gets in. After a flood, once calm, one compacting collection and a trim of the C heap (glibc's `malloc_trim`) give its memory back",
        notes: { HTTP_BODY_BUDGET_MB: "default: 1/256 of the memory, 16-256; bodies held by all requests together" },
      },
      {
        names: ["PROBE_PORT"],
        shown: "`PORT` + 1 (`0` when `PORT` is `0`: any free port)",
        meaning:
          "A listener of its own for `/health`, `/ready` and `/metrics` (they also answer on `PORT`), with its own sockets, on a thread of its own with its own database connection: a crowd that fills the API's port or keeps its event loop busy leaves the probes answering. Point Kubernetes probes, the load balancer's health check and Prometheus here, and keep it off the internet",
        notes: { PROBE_PORT: "default: PORT + 1; /health, /ready, /metrics on a listener of their own" },
      },
      {
        names: ["PROBE_MAX_CONNECTIONS"],
        meaning:
          "Open sockets of the probe port. At the cap, a new connection takes the place of a socket without a request in progress (idle, or its request not whole yet, however young) of an address at least as heavy as its own (sockets held plus sockets closed in the last 10–20 s for giving nothing), the heaviest first, or else the socket that has given nothing longest, once it has for 250 ms; else it is closed at once. A crowd of more addresses than sockets, reconnecting however slowly, then only takes its own places: a prober, whose request comes at once, keeps answering",
      },
      {
        names: ["PROBE_REQUESTS_PER_ADDRESS"],
        meaning:
          "Probe requests (`/health`, `/ready`, `/metrics`) of one address worked on at once, on each port; the next wait their turn (on the API's port up to `HTTP_PIPELINED_REQUESTS`, on the probe port up to this many), beyond 429 `TOO_MANY_REQUESTS`. On the probe port, a socket with more than this many requests in progress is closed: probers never pipeline, and ten addresses keeping 16 `/health` pipelined there took its p99 past 1 s. A kubelet asks for liveness and readiness at once, no more; five addresses pipelining `/health` with 16 requests always in progress took both ports down on a busy machine",
        notes: { PROBE_REQUESTS_PER_ADDRESS: "/health, /ready, /metrics of one address at once" },
      },
      {
        names: ["PROBE_STALLED_MS"],
        meaning:
          "The probe port answers from its own thread, so it also watches the API's: when the API's event loop has not turned for this long (a synchronous loop, a pause nothing else should cause), `/health` and `/ready` there answer 503 with the reason, and a liveness probe restarts the server",
      },
    ],
  },
  {
    title: 'GraphQL limits (see README, "Calling the API")',
    rows: [
      {
        names: ["GRAPHQL_MAX_BODY_BYTES"],
        meaning: "Largest body on `/graphql` (413 beyond)",
      },
      {
        names: ["GRAPHQL_MAX_TOKENS"],
        meaning: "Lexical tokens in a document (`QUERY_TOO_LARGE`)",
      },
      {
        names: ["GRAPHQL_MAX_DEPTH", "GRAPHQL_MAX_INPUT_DEPTH"],
        meaning:
          "Nesting of fields (introspection's type chains not counted) and of input objects and lists, in literals and variables (`QUERY_TOO_DEEP`)",
      },
      {
        names: ["GRAPHQL_MAX_ALIASES"],
        meaning: "Aliased fields at any level, fragments counted each time they are spread (`TOO_MANY_ALIASES`)",
      },
      {
        names: ["GRAPHQL_MAX_ROOT_FIELDS"],
        meaning: "Fields of `Query` and `Mutation`, wherever they appear (`TOO_MANY_OPERATIONS`)",
      },
      {
        names: ["GRAPHQL_MAX_FIELDS"],
        meaning: "Field selections once fragments are spread, repeats included (`QUERY_TOO_COSTLY`)",
      },
      {
        names: ["GRAPHQL_MAX_COST"],
        meaning:
          "Estimated values returned, lists multiplying their children; a text counts one per 100 characters its column may hold (a `description` of up to 10,000: 100), so the budget bounds the bytes of a response (`QUERY_TOO_COSTLY`)",
      },
      {
        names: ["GRAPHQL_MAX_PAGE_SIZE", "GRAPHQL_DEFAULT_PAGE_SIZE"],
        meaning: "Largest `first`/`last`; rows a list returns without them (enforced), and the most groups `groupedAggregates` returns",
      },
      {
        names: ["GRAPHQL_INTROSPECTION"],
        shown: "on, off in production",
        meaning: "Answer `__schema` / `__type` (GraphiQL, codegen)",
        notes: { GRAPHQL_INTROSPECTION: "default: on, off in production" },
      },
      {
        names: ["GRAPHQL_WATCH"],
        shown: "on, off in production",
        meaning:
          "Rebuild the GraphQL schema when the database's DDL changes (PostGraphile's watch mode: a saved `current.sql` shows in `/graphiql` without a restart). Needs PostGraphile's watch event triggers, which `npm start` installs when it knows a superuser (the embedded cluster, or `ROOT_DATABASE_URL`); DDL on tenant schemas alone (a registration) rebuilds nothing",
        notes: { GRAPHQL_WATCH: "rebuild the schema when the database changes; default: on, off in production" },
      },
      {
        names: ["GRAPHQL_DOCUMENT_CACHE_MB"],
        meaning: "Memory the admitted documents may hold (LRU)",
      },
      {
        names: ["GRAPHQL_PLAN_CACHE_SIZE"],
        meaning:
          "Operation plans grafast keeps. Each keeps its document whole, beyond `GRAPHQL_DOCUMENT_CACHE_MB`: after a flood of never-seen 95 kB documents, ≈ 50 MB stay held by 100 plans (measured), until other documents take their places",
      },
      {
        names: ["GRAPHQL_NEW_DOCUMENT_MS"],
        meaning:
          "Milliseconds of event-loop time per second that documents the server has not seen yet may take, all clients together: their parsing, the limits above, validation, planning, and introspection answers not cached. Each task is measured and paid for; while the budget is spent, the next waits for it to refill, so known documents, the probes and everything else keep the rest of each second whatever a crowd sends. Such a document waits here, not in the server's line (`HTTP_SERVER_CONCURRENCY`), and takes a place there again once admitted, to execute (503 `BUSY` when there is none; a sign-in waits in bcrypt's line instead). Turns go fairly: to the address that sent the fewest bytes of new documents in the last 10–20 s",
        notes: { GRAPHQL_NEW_DOCUMENT_MS: "event-loop ms per second for never-seen documents" },
      },
      {
        names: ["GRAPHQL_NEW_DOCUMENT_WAIT_MS"],
        meaning:
          "Longest a new document may expect to wait for its turn at that pace, its work estimated from its bytes (a 95 kB document weighs more than a 1 kB one) at the cost per kilobyte measured lately; beyond, 503 `BUSY` with `Retry-After: 1` before it is parsed, unless a lighter address's document takes the place of the heaviest address's, which is then refused. `0`: a new document is refused unless the line is idle and its budget not spent",
      },
      {
        names: ["GRAPHQL_TRUSTED_DOCUMENTS"],
        shown: "unset",
        meaning:
          'Trusted documents only (recommended in production): a JSON file `{ "<sha256>": "<document>" }` (GraphQL Codegen\'s `persisted-documents.json`) or a folder of `<hash>.graphql`; clients send `{"documentId": "<hash>"}`',
        notes: { GRAPHQL_TRUSTED_DOCUMENTS: "production: ./persisted-documents.json, only these documents, by hash" },
      },
      {
        names: ["EXPORT_CONCURRENCY", "EXPORT_QUEUE"],
        meaning:
          "`exportTenantData` documents built at once server-wide, and waiting their turn (fairly between tenants); one per tenant at a time, running or waiting. Beyond, 503 `BUSY` with `Retry-After: 1`",
      },
      {
        names: ["EXPORT_MAX_BYTES"],
        meaning:
          "Largest export, as JSON text of the tenant's rows, measured in PostgreSQL row by row before the document is built (stopping at the bound); beyond, `EXPORT_TOO_LARGE` (HTTP 413) naming the limit. `0`: no bound. `npm run stoflow -- tenants:export` is never bounded",
      },
      {
        names: ["EXPORT_TIMEOUT"],
        shown: "⅔ of `DATABASE_QUERY_TIMEOUT` (`20`)",
        meaning:
          "Seconds an export may take in PostgreSQL (its `statement_timeout`; keep it below `DATABASE_QUERY_TIMEOUT`); beyond, `EXPORT_TOO_LARGE`, not a 503 outage",
        notes: { EXPORT_TIMEOUT: "seconds; default: 2/3 of DATABASE_QUERY_TIMEOUT" },
      },
    ],
  },
  {
    title: 'Live updates (GraphQL subscriptions, see README "Live updates")',
    rows: [
      {
        names: ["DATABASE_LISTEN_URL"],
        shown: "`JOBS_DATABASE_URL`, then `DATABASE_URL`",
        meaning:
          "The one LISTEN connection of each gateway process (as `stoflow_authenticator`): a direct connection to PostgreSQL, never through a transaction-mode pooler, which loses notifications",
        notes: { DATABASE_LISTEN_URL: "direct connection for LISTEN when DATABASE_URL is a pooler" },
      },
      {
        names: ["LIVE_MAX_SOCKETS", "LIVE_SOCKETS_PER_ADDRESS", "LIVE_SOCKETS_PER_TENANT"],
        meaning:
          "Open subscription sockets of the process, of one client address, of one tenant. Beyond the first, the upgrade is refused with 503; beyond the second, with 429; beyond the third, the socket is closed with 1013 (try again later) at `connection_init`",
        notes: {
          LIVE_MAX_SOCKETS: "subscription sockets of the process",
          LIVE_SOCKETS_PER_ADDRESS: "subscription sockets of one client address",
          LIVE_SOCKETS_PER_TENANT: "subscription sockets of one tenant",
        },
      },
      {
        names: ["LIVE_SUBSCRIPTIONS_PER_SOCKET"],
        meaning: "Subscriptions at once on one socket; the next gets a `TOO_MANY_SUBSCRIPTIONS` error",
        notes: { LIVE_SUBSCRIPTIONS_PER_SOCKET: "subscriptions at once on one socket" },
      },
      {
        names: ["LIVE_SEND_BUFFER_BYTES"],
        meaning:
          "Bytes a socket may leave unread; beyond, the slow consumer is closed at once (the client sees 1006), never buffered without bound",
        notes: { LIVE_SEND_BUFFER_BYTES: "unread bytes per socket before it is closed" },
      },
      {
        names: ["LIVE_SEND_BUFFER_TOTAL_MB"],
        shown: "a 256th of the memory, 16–256 (as `HTTP_BODY_BUDGET_MB`)",
        meaning:
          "Bytes all subscription sockets together may leave unread. Summed four times a second; beyond, the readers holding the most are closed (counted as `slow_consumer`) until the rest fit: 20,000 readers that stop reading, each under `LIVE_SEND_BUFFER_BYTES`, could otherwise hold 20 GB. In `/metrics`: `stoflow_live_unread_bytes`",
        notes: { LIVE_SEND_BUFFER_TOTAL_MB: "default: 1/256 of the memory, 16-256; unread bytes of all sockets together" },
      },
      {
        names: ["LIVE_MERGE_MS", "LIVE_QUEUED_EVENTS"],
        meaning:
          "Events of one topic within the window are merged (the latest per row) before delivery; events waiting for one subscription beyond the second are replaced by one `RESYNC` event (the client refetches)",
        notes: { LIVE_MERGE_MS: "merge window of one topic's events", LIVE_QUEUED_EVENTS: "events waiting per subscription, then RESYNC" },
      },
      {
        names: ["LIVE_PUBLISH_MS", "LIVE_PUBLISH_BATCH"],
        meaning:
          "The tenant tables' triggers queue each row change (`app_private.live_outbox`); every gateway moves the queue to NOTIFY (for the tenants some gateway listens for) this often, at most this many changes in one transaction (one hold of NOTIFY's database-wide commit lock per batch, not per write)",
        notes: {
          LIVE_PUBLISH_MS: "ms between publications of the queued changes",
          LIVE_PUBLISH_BATCH: "changes per publishing transaction",
        },
      },
      {
        names: ["LIVE_CONNECT_TIMEOUT_MS"],
        meaning: "Time a new socket has to send `connection_init` with its token; then it is closed with 4408",
        notes: { LIVE_CONNECT_TIMEOUT_MS: "time to send connection_init" },
      },
      {
        names: ["LIVE_PING_MS"],
        meaning:
          "Sockets are pinged this often; one that has not answered the previous ping is closed: a client gone without a word, or one that reads nothing (its events wait, bounded by `LIVE_QUEUED_EVENTS`, until then)",
        notes: { LIVE_PING_MS: "ping interval; no pong by the next ping: closed" },
      },
      {
        names: ["LIVE_MESSAGES_PER_SECOND"],
        meaning:
          "Messages one socket may send a second, twice as many in a burst; beyond, it is closed with 1008 (subscribe/complete churn costs the event loop)",
        notes: { LIVE_MESSAGES_PER_SECOND: "messages per socket per second, then closed" },
      },
      {
        names: ["LIVE_STARTS_PER_SECOND"],
        meaning:
          "Sign-ins (`connection_init`, each checked against the database) and subscription starts of the whole process a second, twice as many in a burst; beyond, the socket is closed with 1013 or the subscription gets `BUSY`. A crowd of addresses reconnecting and churning subscriptions otherwise took the event loop from HTTP requests (2–8 s)",
        notes: { LIVE_STARTS_PER_SECOND: "sign-ins and subscription starts per second, process-wide" },
      },
      {
        names: ["LIVE_POOL_SIZE"],
        meaning:
          "Connections the deliveries use to read each event's row under the subscriber's role: a pool of their own, so that one tenant's fan-out to thousands of subscriptions waits there and never takes the HTTP requests' connections",
        notes: { LIVE_POOL_SIZE: "connections for the deliveries' reads" },
      },
      {
        names: ["LIVE_DELIVERIES"],
        meaning:
          "Deliveries in progress at once, process-wide (each reads its row and hands the event to its socket); the next turn goes to each tenant with an event waiting in rotation, so one tenant's fan-out to thousands of subscriptions leaves room to the others and to HTTP requests",
        notes: { LIVE_DELIVERIES: "deliveries at once, tenants in rotation" },
      },
      {
        names: ["SESSION_LIVENESS_WINDOW_MS", "SESSION_LIVENESS_SESSIONS"],
        meaning:
          "A session that passed the per-request SQL check is trusted without it while the LISTEN connection (which hears every revocation: logout, password change or reset, deactivation, a lowered role, tenant deletion) heard a notification it sent itself within the window: the most a revocation can be late on a process whose LISTEN connection went silent. A lost connection forgets every session. 0: every request checks its session in SQL; the second is how many sessions are trusted at once",
        notes: {
          SESSION_LIVENESS_WINDOW_MS: "ms; 0 = SQL check on every request",
          SESSION_LIVENESS_SESSIONS: "sessions trusted in memory",
        },
      },
    ],
  },
  {
    title: "Database (unset DATABASE_URL: embedded PostgreSQL in STOFLOW_DATA_DIR)",
    rows: [
      {
        names: ["DATABASE_URL"],
        shown: "unset: embedded PostgreSQL",
        meaning: "Connection of the server, as `stoflow_authenticator`",
        notes: { DATABASE_URL: "e.g. postgres://stoflow_authenticator:secret@db:5432/stoflow" },
      },
      {
        names: ["DATABASE_OWNER_URL"],
        shown: "unset",
        meaning:
          "Connection of the database owner; when set, migrations run at start, and `stoflow_authenticator` gets the password of `DATABASE_URL`",
        notes: { DATABASE_OWNER_URL: "e.g. postgres://stoflow_owner:secret@db:5432/stoflow (migrations at start)" },
      },
      {
        names: ["DATABASE_POOL_SIZE"],
        meaning: "Connections each server process keeps",
      },
      {
        names: ["DATABASE_POOL_MAX_LIFETIME"],
        meaning:
          "Seconds before a pooled connection is replaced (each PostgreSQL backend caches the catalog of every tenant schema it touched; recycling bounds that memory). `0` keeps connections forever",
        notes: { DATABASE_POOL_MAX_LIFETIME: "seconds; bounds each backend's per-tenant catalog cache" },
      },
      {
        names: ["DATABASE_POOL_GROUPS"],
        shown: "half of `DATABASE_POOL_SIZE` (`5`)",
        meaning:
          "Groups the server's pool is split into (`DATABASE_POOL_SIZE` shared among them, at least one connection each): a tenant's transactions go to the connections of its group (a hash of the tenant id), so each PostgreSQL backend caches the catalog of about 1/groups of the tenants; a group whose connections are all busy borrows a free one of another group (`stoflow_db_pool_borrowed_total`), so no request waits while a connection is free. Anonymous requests take the least busy group. Measured at 50,100 tenants, pool of 16: 8 groups held 386 MiB of backend memory against 9,593 MiB for one, reads 1.02× as fast (docs/scaling.md). `1`: every connection serves every tenant (see [Scaling out](#scaling-out))",
        notes: { DATABASE_POOL_GROUPS: "tenant-affine groups of the pool; 1 = none" },
      },
      {
        names: ["DATABASE_POOL_BORROW_WAIT_MS"],
        meaning:
          "When every connection is busy, a request that has waited this much longer than a group's oldest request takes the next connection that group releases (a hot tenant, whose group is too small for it, waits about as long as in one undivided pool); else a released connection goes to its own group's oldest request. Relative, not a limit on the clock: under a load that keeps every connection busy every request waits, and a fixed limit handed connections in arrival order (affinity lost)",
        notes: {
          DATABASE_POOL_BORROW_WAIT_MS: "ms longer than a group's oldest request before its next free connection goes to another's",
        },
      },
      {
        names: ["DATABASE_POOL_BORROWED_USES"],
        meaning:
          "Transactions of other groups' tenants (borrowed) a connection serves before it is closed as it comes back and replaced: each may put another tenant's catalog in its backend's cache, and under a load that keeps every connection busy a group of two borrows for about a quarter of its transactions, so without a bound every backend ends up caching every tenant. `0`: never replaced for that",
        notes: { DATABASE_POOL_BORROWED_USES: "borrowed transactions before a connection is replaced; 0 = never" },
      },
      {
        names: ["DATABASE_POOL_GROUP_DATABASE"],
        shown: "unset",
        meaning:
          "Behind PgBouncer: the database name each group connects to instead of `DATABASE_URL`'s, `{group}` standing for the group's number (0, 1, …) and `{database}` for `DATABASE_URL`'s database; each name is a PgBouncer entry of its own (its own server pool) pointing at the same database, so affinity holds on the server's connections too (`deploy/pgbouncer.ini`). Unset: every group connects to `DATABASE_URL`",
        notes: { DATABASE_POOL_GROUP_DATABASE: "e.g. stoflow_g{group}: one PgBouncer entry per group" },
      },
      {
        names: ["DATABASE_CONNECT_TIMEOUT"],
        meaning:
          "Seconds to open a connection, or to wait for a free one in the pool, before the request fails with 503 (so a burst far beyond the pool is shed, not queued without end)",
        notes: { DATABASE_CONNECT_TIMEOUT: "seconds to connect or to wait for a pooled connection" },
      },
      {
        names: ["DATABASE_QUERY_TIMEOUT"],
        meaning:
          "Seconds a query may wait for its answer; past that the request fails with 503 and the connection is dropped (a database that went silent is noticed by nothing else). `0`: no limit",
        notes: { DATABASE_QUERY_TIMEOUT: "seconds a query may wait for its answer; 0 = no limit" },
      },
      {
        names: ["DATABASE_KEEPALIVE"],
        meaning: "Seconds a connection stays idle before TCP keepalive probes check that PostgreSQL is still there. `0`: no probes",
        notes: { DATABASE_KEEPALIVE: "seconds idle before TCP keepalive probes; 0 = off" },
      },
      {
        names: ["DATABASE_PREPARED_STATEMENTS"],
        meaning:
          "`false` for a pooler that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode), with `DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE=0` (PostGraphile's); the server detects such a pooler and refuses to start while either is on (see [Scaling out](#scaling-out))",
        notes: { DATABASE_PREPARED_STATEMENTS: "false behind a pooler that cannot keep them" },
      },
      {
        names: ["DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE"],
        shown: "`100` (@dataplan/pg's)",
        meaning: "Statements PostGraphile prepares per connection; `0` behind a pooler that cannot keep them",
        notes: {
          DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE:
            "PostGraphile's prepared statements per connection; 0 behind a pooler that cannot keep them",
        },
        example: { DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE: "100" },
      },
      {
        names: ["TENANT_MIGRATION_BATCH"],
        meaning: "How many tenant schemas one transaction migrates when a tenant DDL step is added",
        notes: { TENANT_MIGRATION_BATCH: "tenant schemas migrated per transaction" },
      },
      {
        names: ["ROOT_DATABASE_URL", "SHADOW_DATABASE_URL"],
        shown: "unset",
        meaning: "Superuser and shadow-database connections for `npm run db -- commit/reset` against an external server",
        notes: { ROOT_DATABASE_URL: "npm run db -- commit/reset against an external server" },
      },
    ],
  },
  {
    title: "Embedded PostgreSQL (development)",
    rows: [
      {
        names: ["STOFLOW_DATA_DIR"],
        meaning: "Folder of the embedded cluster (`pg/`) and its generated secrets (`secrets.json`, mode 0600)",
      },
      {
        names: ["STOFLOW_PG_PORT"],
        meaning: "Port of the embedded cluster (localhost only)",
      },
      {
        names: ["STOFLOW_DB_NAME"],
        meaning: "Database name on the embedded cluster",
      },
    ],
  },
  {
    title: "Tokens and passwords",
    rows: [
      {
        names: ["JWT_SECRET"],
        shown: "generated in development",
        meaning:
          "HS256 secret, 32 characters at least; required when `NODE_ENV=production`. In development a random one is kept in `STOFLOW_DATA_DIR/secrets.json`",
        notes: { JWT_SECRET: "at least 32 characters; generated in development" },
      },
      {
        names: ["JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY", "JWT_ALGORITHM"],
        shown: "unset",
        meaning: "PEM key pair to sign with `RS256` (default) or `ES256` instead of a shared secret",
        notes: { JWT_PRIVATE_KEY: "PEM pair instead of a secret", JWT_ALGORITHM: "RS256 or ES256 with a key pair" },
        example: { JWT_ALGORITHM: "RS256" },
      },
      {
        names: ["JWT_ISSUER", "JWT_AUDIENCE"],
        meaning: "Checked on every token",
      },
      {
        names: ["ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL"],
        meaning: "Lifetimes in seconds (15 minutes, 30 days)",
        notes: { ACCESS_TOKEN_TTL: "seconds", REFRESH_TOKEN_TTL: "seconds" },
      },
      {
        names: ["BCRYPT_COST"],
        meaning: "bcrypt work factor (about 0.2 s a hash on one core)",
      },
      {
        names: ["BCRYPT_CONCURRENCY"],
        shown: "cores − 1",
        meaning:
          "Hashes running at once (each on a thread of its own, never on the event loop), so a login storm leaves cores to signed-in tenants",
        notes: { BCRYPT_CONCURRENCY: "default: cores - 1" },
      },
      {
        names: ["BCRYPT_QUEUE_LIMIT"],
        meaning:
          "Requests that may be under way beyond the hashes running (in the database, or waiting for bcrypt), and as many more waiting to start; the next is refused at once with 503 `BUSY` and `Retry-After: 1` (a short line: a crowd of sign-ins is refused in milliseconds instead of holding the server's places for seconds). The line is fair like the server's: a sign-in from an address (or account) that sent few lately goes before a crowd's and, when the line is full, takes the place of the busiest address's request, which is then refused with the same 503 after waiting. So, in a crowd that retries at once, the crowd's own requests may wait long or be refused late: the crowd waits behind everyone else",
        notes: { BCRYPT_QUEUE_LIMIT: "waiting beyond those running; then 503 BUSY" },
      },
      {
        names: ["BCRYPT_NICE"],
        meaning:
          "The nice value (0–19) of those threads: under a login storm, hashes get about a quarter of a busy core against signed-in tenants' requests and PostgreSQL, instead of an equal share (0: the server's own priority; higher values favour reads more and slow logins more when the machine is busy). Linux gives each thread its own nice value; elsewhere it may not apply",
      },
    ],
  },
  {
    title: "Throttling (attempts reserved in PostgreSQL before bcrypt runs)",
    rows: [
      {
        names: ["LOGIN_MAX_FAILURES_PER_EMAIL"],
        meaning:
          "Wrong passwords for one e-mail (any case) per window, counted together for every address not known to the account; then 429 from those addresses, even for the right password. An address known to the account (see `LOGIN_KNOWN_ADDRESS_DAYS`) has a count of its own, so guesses from elsewhere never lock the owner out of it. A successful login gives its own attempt back, not the others' failures",
        notes: { LOGIN_MAX_FAILURES_PER_EMAIL: "wrong passwords per e-mail per window (unknown addresses together)" },
      },
      {
        names: ["LOGIN_KNOWN_ADDRESS_DAYS"],
        meaning:
          "Days a client address that signed in to an account stays known to it (forgotten at once when the password or any credential changes). `0`: no address is known, and every address shares the e-mail's count (then anyone can keep an owner out with `LOGIN_MAX_FAILURES_PER_EMAIL` guesses a window). Behind a proxy, set `TRUST_PROXY` so addresses are the clients'",
        notes: { LOGIN_KNOWN_ADDRESS_DAYS: "days, 0 to 3650" },
      },
      {
        names: ["LOGIN_MAX_ATTEMPTS_PER_ADDRESS"],
        meaning: "Logins from one client address per window; a successful login gives its attempt back",
        notes: { LOGIN_MAX_ATTEMPTS_PER_ADDRESS: "logins per client address per window (successes given back)" },
      },
      {
        names: ["LOGIN_THROTTLE_WINDOW"],
        meaning: "Seconds of the login and change-password windows",
        notes: { LOGIN_THROTTLE_WINDOW: "seconds, login and change-password" },
      },
      {
        names: ["CHANGE_PASSWORD_MAX_FAILURES"],
        meaning: "Wrong current passwords per user per window on change-password, change-email and confirm-password together",
        notes: {
          CHANGE_PASSWORD_MAX_FAILURES: "wrong current passwords per user per window (change-password, change-email, confirm-password)",
        },
      },
      {
        names: ["REAUTHENTICATION_TTL"],
        meaning:
          "Seconds a session may make sensitive changes (grant or end the admin role, invite an admin, delete the tenant) after confirming the password ([sudo mode](#sudo-mode))",
        notes: { REAUTHENTICATION_TTL: "seconds a session may make sensitive changes after confirming the password (sudo mode)" },
      },
      {
        names: ["REGISTRATIONS_PER_ADDRESS_PER_HOUR"],
        meaning: "Registrations (each creates a schema) from one client address per hour",
      },
      {
        names: ["REGISTRATIONS_PER_EMAIL_PER_HOUR"],
        meaning: "Registration attempts of one e-mail per hour",
      },
    ],
  },
  {
    title: 'Account mail, invitations and the job queue (README, "Accounts by e-mail")',
    rows: [
      {
        names: ["SMTP_URL"],
        shown: "unset: `.eml` files (development)",
        meaning:
          "SMTP server of account messages (`smtp://user:password@host:587`, `smtps://…:465`); required when `NODE_ENV=production`. Unset, each message is written to `STOFLOW_DATA_DIR/mail/` and its link logged",
        notes: {
          SMTP_URL: "smtp://user:password@relay:587; unset: .eml files in STOFLOW_DATA_DIR/mail (development); required in production",
        },
      },
      {
        names: ["SMTP_CONNECTION_TIMEOUT", "SMTP_GREETING_TIMEOUT", "SMTP_SOCKET_TIMEOUT"],
        meaning:
          "Seconds to connect to the SMTP server, to get its greeting, and of silence once talking (nodemailer's own: 120, 30, 600). A relay that stalls fails the send within these; the job is retried with backoff",
        notes: {
          SMTP_CONNECTION_TIMEOUT: "seconds to connect to the relay",
          SMTP_GREETING_TIMEOUT: "seconds to get its greeting (a stalled relay fails the send; retried with backoff)",
          SMTP_SOCKET_TIMEOUT: "seconds of silence once talking",
        },
      },
      {
        names: ["MAIL_FROM"],
        meaning: "`From:` of account messages",
      },
      {
        names: ["APP_URL"],
        shown: "unset: the server's own address, `http://localhost:PORT`",
        meaning:
          "Where the application's pages are: the links of messages are `APP_URL/verify-email?token=…`, `/reset-password`, `/accept-invitation`, `/confirm-email-change`, `/cancel-email-change`. Unset (development), the links lead to this server, which answers those paths with minimal pages of its own that complete each flow; required when `NODE_ENV=production`",
        notes: { APP_URL: "the application's pages; unset: this server's own pages; required in production" },
      },
      {
        names: ["VERIFY_EMAIL_TOKEN_TTL", "RESET_PASSWORD_TOKEN_TTL", "CHANGE_EMAIL_TOKEN_TTL"],
        meaning: "Seconds a link works (7 days, 1 hour, 1 day)",
        notes: { VERIFY_EMAIL_TOKEN_TTL: "seconds each link works" },
      },
      {
        names: ["INVITATION_TTL"],
        meaning:
          "Seconds a pending invitation (and its link) lives after it was sent or resent (7 days; it was `INVITATION_TOKEN_TTL` before invitations were rows of their own)",
        notes: { INVITATION_TTL: "seconds a pending invitation lives after it was sent or resent" },
      },
      {
        names: ["MAIL_REQUESTS_PER_EMAIL", "MAIL_REQUESTS_PER_ADDRESS", "MAIL_REQUEST_WINDOW"],
        meaning: "Messages asked for (resend, forgot password) per e-mail and per client address per window (seconds); beyond, 429",
        notes: {
          MAIL_REQUESTS_PER_EMAIL: "messages asked for per address per window (also: invitation messages an address gets)",
          MAIL_REQUESTS_PER_ADDRESS: "messages asked for per client address per window",
          MAIL_REQUEST_WINDOW: "seconds",
        },
      },
      {
        names: ["TOKEN_ATTEMPTS_PER_ADDRESS"],
        meaning: "Uses of links (right or wrong tokens) per client address per `MAIL_REQUEST_WINDOW`; beyond, 429 before any bcrypt",
        notes: { TOKEN_ATTEMPTS_PER_ADDRESS: "links tried per client address per window" },
      },
      {
        names: ["INVITATIONS_PER_INVITER_PER_HOUR", "INVITATIONS_PER_TENANT_PER_HOUR"],
        meaning: "Invitations made or resent per admin and per tenant per hour; beyond, 429",
      },
      {
        names: ["LOGIN_REQUIRES_VERIFIED_EMAIL"],
        meaning: "`true`: sign-in with the right password answers 403 `EMAIL_NOT_VERIFIED` until the address is verified",
      },
      {
        names: ["JOBS_IN_PROCESS"],
        meaning:
          "Run the job worker (graphile-worker: it sends the messages) inside the server; `false` when `npm run worker` runs it apart",
        notes: { JOBS_IN_PROCESS: "false when `npm run worker` runs the jobs apart" },
      },
      {
        names: ["JOBS_DATABASE_URL"],
        shown: "`DATABASE_URL`",
        meaning:
          "The job worker's connection as `stoflow_authenticator`, direct to PostgreSQL when `DATABASE_URL` goes through a transaction-mode pooler (the worker LISTENs and sets its role as it connects; watch mode's listener uses it too); behind such a pooler without it, the server refuses to start and says so",
        notes: { JOBS_DATABASE_URL: "the worker's direct (session) connection when DATABASE_URL goes through PgBouncer" },
      },
      {
        names: ["JOBS_CONCURRENCY", "JOBS_POLL_INTERVAL_MS"],
        meaning:
          "Jobs one worker runs at once (sending is waiting on the relay: with 8, a relay that stalls some connections holds a few workers up to `SMTP_GREETING_TIMEOUT` each while the others keep account messages flowing); how often it looks for jobs whose retry is due (new jobs arrive at once, by LISTEN/NOTIFY)",
        notes: { JOBS_CONCURRENCY: "jobs one worker runs at once" },
      },
    ],
  },
  {
    title: 'Billing (README, "Billing")',
    rows: [
      {
        names: ["BILLING"],
        meaning:
          "`stripe`: paid tiers are bought through Stripe Checkout and made active only by Stripe's signed webhook events; `none` (the default, development and production alike): no payment step. With `none` in development a paid tier is active at once (as before billing existed); with `none` in production (`NODE_ENV=production`) only the operator's `tenants:set-tier` makes one active",
        notes: { BILLING: "none | stripe (stripe needs STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and a price)" },
      },
      {
        names: ["TRIAL_DAYS"],
        meaning:
          "Days a paid tier asked for at registration or by `changeSubscriptionTier` runs as a trial (`trialing`, the tier's limits), once per tenant and tier; then, without a payment, the tenant falls back to starter. `0`: no trial (an upgrade is refused with `PAYMENT_REQUIRED`, a registration starts on starter)",
      },
      {
        names: ["TRIAL_REMINDER_DAYS"],
        meaning:
          "Days before a trial's end its admins are mailed (once); they are mailed again when it ends. Read by the job worker, whose crontab runs the billing clock every 10 minutes",
      },
      {
        names: ["BILLING_GRACE_DAYS"],
        meaning:
          "Days a tenant keeps its tier after a failed payment (`past_due`); then it is `suspended` (reads, no writes) until a payment arrives",
      },
      {
        names: ["STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"],
        shown: "unset",
        meaning:
          "With `BILLING=stripe`, required: the secret API key (`sk_…`, for Checkout Sessions) and the signing secret of the webhook endpoint (`whsec_…`); the server refuses to start without them, naming the one missing",
        notes: {
          STRIPE_SECRET_KEY: "sk_live_… or sk_test_…",
          STRIPE_WEBHOOK_SECRET: "whsec_… of the endpoint /api/billing/stripe/webhook",
        },
      },
      {
        names: ["STRIPE_PRICE_STANDARD", "STRIPE_PRICE_PREMIUM", "STRIPE_PRICE_BUSINESS", "STRIPE_PRICE_ENTERPRISE"],
        shown: "unset",
        meaning:
          "Stripe's recurring price id (`price_…`) of each paid tier; a tier without one cannot be bought (`INVALID_INPUT`). `BILLING=stripe` needs one at least",
      },
      {
        names: ["STRIPE_API_BASE"],
        shown: "unset: Stripe's API",
        meaning: "Where the Stripe client sends its calls (`http://127.0.0.1:12111`): a local stand-in, for tests",
      },
    ],
  },
  {
    title: "Tests and tools",
    rows: [
      {
        names: ["TEST_ROOT_DATABASE_URL"],
        shown: "unset",
        meaning: "Tests: a superuser URL of an existing server to use instead of an embedded one",
        notes: { TEST_ROOT_DATABASE_URL: "superuser URL of a server to test against instead of embedded" },
      },
      {
        names: ["ENV_FILE"],
        meaning: "The file of settings every command reads first, when present (variables already in the environment win)",
      },
    ],
  },
];
