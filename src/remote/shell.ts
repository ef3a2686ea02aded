/**
 * The one quoting helper for every command posefactory sends to a shell. POSIX single quotes
 * pass every byte through literally (spaces, $, backticks, ;, newlines, non-ASCII); a single
 * quote itself is closed, escaped and reopened.
 */
export function quoteShell(arg: string): string {
  if (arg === "") return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted. */
export function buildCommand(words: readonly string[]): string {
  return words.map(quoteShell).join(" ");
}

/** `export NAME='value'` lines for the top of a script sent on stdin (never on a command line). */
export function buildExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`invalid environment name: ${name}`);
      return `export ${name}=${quoteShell(value)}\n`;
    })
    .join("");
}
