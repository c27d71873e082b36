import { defineConfig } from "vite";

// The UI is embedded into the fluoro binary (ui/build.rs runs this build) and served on the
// HTTP port at `/`; `npm run dev` proxies the API to a fluoro on 127.0.0.1:4566.
export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2022",
    assetsDir: "assets",
    chunkSizeWarningLimit: 600,
    reportCompressedSize: false,
  },
  server: { proxy: { "/api": "http://127.0.0.1:4566" } },
});
