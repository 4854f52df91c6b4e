// Lint rules, including the folder boundaries of the architecture: format/, model/ and shared/
// are pure (no vscode, fs, dbus-next), only bus/ talks D-Bus, and the webview never imports
// extension-host code.
import tseslint from "typescript-eslint";

const nodeBuiltins = [
  "fs",
  "node:fs",
  "fs/promises",
  "node:fs/promises",
  "child_process",
  "node:child_process",
  "net",
  "node:net",
  "zlib",
  "node:zlib",
  "path",
  "node:path",
  "os",
  "node:os",
  "worker_threads",
  "node:worker_threads",
];
const restrict = (paths, patterns = []) => ({
  "no-restricted-imports": [
    "error",
    { paths: paths.map((name) => ({ name, message: "not allowed in this folder (see STYLE.md)" })), patterns },
  ],
});

export default tseslint.config(
  { ignores: ["dist/**", "out/**", "node_modules/**", "**/*.js", "**/*.mjs", "**/*.cjs", ".vscode-test/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["src/format/**/*.ts", "src/model/**/*.ts", "src/shared/**/*.ts", "src/diff/**/*.ts"],
    rules: restrict(
      ["vscode", "dbus-next", ...nodeBuiltins],
      [
        {
          group: ["**/editor/**", "**/bus/**", "**/cli/**", "**/io/**"],
          message: "pure folders do not import host folders",
        },
      ],
    ),
  },
  {
    files: ["src/io/**/*.ts", "src/cli/**/*.ts", "src/editor/**/*.ts", "src/extension.ts", "test/**/*.ts"],
    ignores: ["src/cli/busCommand.ts", "test/unit/bus*.ts", "test/integration/**"],
    rules: restrict(["dbus-next"]),
  },
  {
    files: ["webview/**/*.ts"],
    rules: restrict(
      ["vscode", "dbus-next", ...nodeBuiltins],
      [
        {
          group: ["**/src/editor/**", "**/src/bus/**", "**/src/cli/**", "**/src/io/**", "**/src/model/**"],
          message: "the webview imports src/shared and src/format only",
        },
      ],
    ),
  },
);
