// Lint rules: typescript-eslint's recommended set, type-aware, on every TypeScript file the
// type checker sees; formatting is prettier's job alone (eslint-config-prettier turns off the
// rules that would fight it). `npm run lint` runs both and fails on any warning.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

export default tseslint.config(
  // examples/ are client code built from generated files (gitignored); their own tests type-check them.
  { ignores: ["coverage/", "artifacts/", "data/", "node_modules/", "examples/"] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `declare global { namespace Grafast … }` is how grafast and @dataplan/pg take their context types.
      "@typescript-eslint/no-namespace": ["error", { allowDeclarations: true }],
      // A leading underscore marks what a signature or a destructuring must name but does not use.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
    },
  },
  { files: ["**/*.js", "**/*.mjs"], extends: [tseslint.configs.disableTypeChecked] },
  {
    // Tests read response bodies as JSON (`any`) and let `expect` check their shape at run time;
    // typing every body would restate the schema in each test. Only the rules about `any` are relaxed.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-explicit-any": "off",
    },
  },
  prettier,
);
