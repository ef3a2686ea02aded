/**
 * Build dist/ once before the tests: a few tests spawn the built binary to check exit codes
 * and the separation of stdout and stderr, as a user's shell sees them.
 */
import { buildCli } from "./build.js";

export default function setup(): void {
  buildCli();
}
