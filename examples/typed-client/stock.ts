// A typed client of the Stoflow API: `npx graphql-codegen` (codegen.ts) writes ./gql from the
// documents below; run.ts runs it. test/api/typed-client.test.ts generates, type-checks and runs it.
import { graphql } from "./gql/index.ts";
import type { TypedDocumentString } from "./gql/graphql.ts";

const MyStock = graphql(`
  query MyStock($first: Int!, $after: Cursor) {
    products(first: $first, after: $after, orderBy: CREATED_AT_DESC) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        sku
        title
        price
        createdAt
        vintedProduct {
          status
          viewsCount
        }
      }
      aggregates {
        sum {
          price
        }
      }
    }
  }
`);

const CreateProduct = graphql(`
  mutation CreateProduct($product: ProductInput!) {
    createProduct(input: { product: $product }) {
      product {
        sku
        price
      }
    }
  }
`);

/** POSTs one typed operation; its variables and result are checked by the compiler. */
async function execute<Result, Variables>(
  url: string,
  token: string,
  document: TypedDocumentString<Result, Variables>,
  variables: Variables,
): Promise<Result> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: document.toString(), variables }),
  });
  const { data, errors } = (await response.json()) as {
    data?: Result;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
  if (errors?.length || !data) throw new Error(`${errors?.[0]?.extensions?.code}: ${errors?.[0]?.message}`);
  return data;
}

export async function stockValue(url: string, token: string): Promise<string> {
  await execute(url, token, CreateProduct, { product: { sku: `JKT-${Date.now()}`, title: "Denim jacket", price: "45.00" } });
  const { products } = await execute(url, token, MyStock, { first: 20 });
  for (const product of products?.nodes ?? []) {
    const price: string = product.price; // money is a string: no digit lost
    const listed: string = product.createdAt;
    // @ts-expect-error money is not a number (a scalar mapped to `any` would let this through)
    const wrong: number = product.price;
    console.log(product.sku, price, listed, product.vintedProduct?.status ?? "not on Vinted", typeof wrong);
  }
  return products?.aggregates?.sum?.price ?? "0";
}

/** Never called: the compiler refuses the variables (test/api/typed-client.test.ts type-checks this file). */
export const missingVariable = (url: string, token: string) =>
  // @ts-expect-error `first` is required by the document
  execute(url, token, MyStock, {});
