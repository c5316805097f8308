/**
 * Names without a schema prefix: tenant tables are `products`, not `tenantTemplateProducts`,
 * because clients address "my tenant's products" and the schema is chosen per request. Table
 * names are unique across public and tenant_template, so nothing collides.
 */
export const NoSchemaPrefixPlugin: GraphileConfig.Plugin = {
  name: "StoflowNoSchemaPrefixPlugin",
  version: "1.0.0",
  inflection: {
    replace: {
      _schemaPrefix() {
        return "";
      },
    },
  },
};
