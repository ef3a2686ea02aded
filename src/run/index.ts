/** A run's identity: its id, the paths inside its folder, its manifest, its host job's codes. */
export * from "./exit-codes.js";
export * from "./id.js";
export * from "./manifest.js";
export * from "./paths.js";
export * from "./status.js";
