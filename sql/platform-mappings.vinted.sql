-- Reference mappings for Vinted: how Stoflow's standard values map to Vinted's catalogue.
-- Load with `npm run db:load -- sql/platform-mappings.vinted.sql` (idempotent: upserts).
-- platform_id values are Vinted catalogue ids as seen on vinted.fr; Vinted changes its catalogue,
-- so check them against the live site before relying on them for publishing.
insert into public.platform_mappings (platform, mapping_type, our_value, platform_value, platform_id, notes) values
  -- brands
  ('vinted', 'brand', 'Nike', 'Nike', 53, null),
  ('vinted', 'brand', 'Adidas', 'adidas', 14, null),
  ('vinted', 'brand', 'Zara', 'Zara', 12, null),
  ('vinted', 'brand', 'H&M', 'H&M', 7, null),
  ('vinted', 'brand', 'Levi''s', 'Levi''s', 10, null),
  ('vinted', 'brand', 'Mango', 'MANGO', 4, null),
  ('vinted', 'brand', 'Uniqlo', 'UNIQLO', 1184, null),
  ('vinted', 'brand', 'The North Face', 'The North Face', 2319, null),
  ('vinted', 'brand', 'Ralph Lauren', 'Ralph Lauren', 88, null),
  ('vinted', 'brand', 'Sézane', 'Sézane', 281826, null),
  -- categories
  ('vinted', 'category', 'women/dresses', 'Femmes > Vêtements > Robes', 10, null),
  ('vinted', 'category', 'women/jeans', 'Femmes > Vêtements > Jeans', 183, null),
  ('vinted', 'category', 'women/coats', 'Femmes > Vêtements > Manteaux et vestes', 1037, null),
  ('vinted', 'category', 'women/sneakers', 'Femmes > Chaussures > Baskets', 2632, null),
  ('vinted', 'category', 'men/t-shirts', 'Hommes > Vêtements > Hauts et t-shirts > T-shirts', 77, null),
  ('vinted', 'category', 'men/jeans', 'Hommes > Vêtements > Jeans', 257, null),
  ('vinted', 'category', 'men/jackets', 'Hommes > Vêtements > Manteaux et vestes', 1206, null),
  ('vinted', 'category', 'men/sneakers', 'Hommes > Chaussures > Baskets', 1242, null),
  -- conditions
  ('vinted', 'condition', 'new_with_tags', 'Neuf avec étiquette', 6, null),
  ('vinted', 'condition', 'new_without_tags', 'Neuf sans étiquette', 1, null),
  ('vinted', 'condition', 'very_good', 'Très bon état', 2, null),
  ('vinted', 'condition', 'good', 'Bon état', 3, null),
  ('vinted', 'condition', 'satisfactory', 'Satisfaisant', 4, null),
  -- colours
  ('vinted', 'color', 'black', 'Noir', 1, null),
  ('vinted', 'color', 'white', 'Blanc', 12, null),
  ('vinted', 'color', 'grey', 'Gris', 3, null),
  ('vinted', 'color', 'blue', 'Bleu', 9, null),
  ('vinted', 'color', 'navy', 'Marine', 27, null),
  ('vinted', 'color', 'red', 'Rouge', 7, null),
  ('vinted', 'color', 'green', 'Vert', 10, null),
  ('vinted', 'color', 'beige', 'Beige', 4, null),
  ('vinted', 'color', 'brown', 'Marron', 2, null),
  ('vinted', 'color', 'pink', 'Rose', 24, null),
  -- sizes (women's clothing, French sizes)
  ('vinted', 'size', 'XS', 'XS / 34 / 6', 2, null),
  ('vinted', 'size', 'S', 'S / 36 / 8', 3, null),
  ('vinted', 'size', 'M', 'M / 38 / 10', 4, null),
  ('vinted', 'size', 'L', 'L / 40 / 12', 5, null),
  ('vinted', 'size', 'XL', 'XL / 42 / 14', 6, null),
  -- materials
  ('vinted', 'material', 'cotton', 'Coton', 44, null),
  ('vinted', 'material', 'denim', 'Denim', 303, null),
  ('vinted', 'material', 'wool', 'Laine', 46, null),
  ('vinted', 'material', 'leather', 'Cuir', 43, null)
on conflict (platform, mapping_type, our_value) do update set
  platform_value = excluded.platform_value, platform_id = excluded.platform_id, notes = excluded.notes;
