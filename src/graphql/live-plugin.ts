import { context, get, lambda, listen, type Step } from "postgraphile/grafast";
import type { PgResource } from "postgraphile/@dataplan/pg";
import { extendSchema, gql } from "postgraphile/utils";
import { notAuthenticated } from "../errors.ts";
import type { SessionClaims } from "../auth/tokens.ts";
import { topicOf, type LiveEvent, type LiveHub, type LiveKind } from "../live/hub.ts";

const typeDefs = gql`
  "What happened to the row an event is about."
  enum LiveEventKind {
    "The row was created."
    CREATED
    "The row changed."
    UPDATED
    "The row was deleted: only its key is sent."
    DELETED
    "Events may have been lost (the server's connection to the database came back, or the client fell behind): refetch."
    RESYNC
  }

  "A product of the tenant was created, changed or deleted."
  type ProductEvent {
    "What happened: CREATED, UPDATED, DELETED, or RESYNC (refetch)."
    event: LiveEventKind!
    "The product's SKU (null for RESYNC)."
    sku: String
    "1, 2, 3… on this subscription: a gap or a RESYNC means refetch."
    sequence: Int!
    "The product as the subscriber may see it now, read at delivery; null when deleted or no longer visible."
    product: Product
  }

  "A product's Vinted listing was created, changed (status, counters, price…) or deleted."
  type VintedProductEvent {
    "What happened: CREATED, UPDATED, DELETED, or RESYNC (refetch)."
    event: LiveEventKind!
    "The listed product's SKU (null for RESYNC)."
    sku: String
    "1, 2, 3… on this subscription: a gap or a RESYNC means refetch."
    sequence: Int!
    "The listing as the subscriber may see it now, read at delivery; null when deleted or no longer visible."
    vintedProduct: VintedProduct
  }

  "A publication attempt started or its status changed."
  type PublicationEvent {
    "What happened: CREATED, UPDATED, DELETED, or RESYNC (refetch)."
    event: LiveEventKind!
    "The attempt's rowId (null for RESYNC)."
    rowId: Int
    "1, 2, 3… on this subscription: a gap or a RESYNC means refetch."
    sequence: Int!
    "The attempt as the subscriber may see it now, read at delivery."
    publication: PublicationsHistory
  }

  "An AI generation finished (its log row was written)."
  type AiGenerationEvent {
    "What happened: CREATED, UPDATED, DELETED, or RESYNC (refetch)."
    event: LiveEventKind!
    "The generation's rowId (null for RESYNC)."
    rowId: Int
    "1, 2, 3… on this subscription: a gap or a RESYNC means refetch."
    sequence: Int!
    "The generation as the subscriber may see it now, read at delivery."
    aiGeneration: AiGenerationsLog
  }

  extend type Subscription {
    "Every product change of the signed-in user's tenant (WebSocket, graphql-ws)."
    productChanged: ProductEvent!
    "Every change of a Vinted listing of the tenant: status, views, favourites, price."
    vintedProductChanged: VintedProductEvent!
    "Every publication attempt of the tenant, and each change of its status."
    publicationChanged: PublicationEvent!
    "Every AI generation of the tenant, once finished."
    aiGenerationFinished: AiGenerationEvent!
  }
`;

/** The topic of the session's tenant: never from an argument, so no client can name another tenant's. */
function tenantTopic(kind: LiveKind): Step<string> {
  return lambda(context().get("session"), (session: SessionClaims | undefined) => {
    if (!session) throw notAuthenticated();
    return topicOf(session.tenantId, kind);
  });
}

const subscribe = (hub: LiveHub, kind: LiveKind) => ({
  subscribePlan: () => listen(hub, tenantTopic(kind), ($event) => $event),
  plan: ($event: Step) => $event,
});

const keyText = ($event: Step) => get($event as Step<LiveEvent>, "key");
const keyNumber = ($event: Step) => lambda(get($event as Step<LiveEvent>, "key"), (key) => (key === null ? null : Number(key)));

/**
 * Subscriptions for what sellers wait for. Each event carries a key; the row is read at delivery
 * under the subscriber's own role, claims and RLS (the socket's session), like any query.
 */
export function livePlugin(hub: LiveHub) {
  return extendSchema((build) => {
    const resource = (name: string) => build.input.pgRegistry.pgResources[name] as PgResource;
    const [products, vinted, publications, generations] = ["products", "vinted_products", "publications_history", "ai_generations_log"].map(
      resource,
    );
    return {
      typeDefs,
      plans: {
        Subscription: {
          productChanged: subscribe(hub, "product"),
          vintedProductChanged: subscribe(hub, "vinted_product"),
          publicationChanged: subscribe(hub, "publication"),
          aiGenerationFinished: subscribe(hub, "ai_generation"),
        },
        ProductEvent: { sku: keyText, product: ($event: Step) => products.get({ sku: keyText($event) }) },
        VintedProductEvent: { sku: keyText, vintedProduct: ($event: Step) => vinted.get({ sku: keyText($event) }) },
        PublicationEvent: { rowId: keyNumber, publication: ($event: Step) => publications.get({ id: keyNumber($event) }) },
        AiGenerationEvent: { rowId: keyNumber, aiGeneration: ($event: Step) => generations.get({ id: keyNumber($event) }) },
      },
    };
  });
}
