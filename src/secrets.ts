/**
 * Known secret values, registered when credentials are loaded, and scrubbed from every
 * byte posefactory writes to stdout, stderr or a log file. Path-based redaction in pino
 * catches structured fields; this catches a secret that ends up inside a message string.
 */
const secrets = new Set<string>();

export const REDACTED = "[redacted]";

export function registerSecret(value: string | undefined): void {
  // Very short values would redact ordinary words; real keys are long.
  if (value && value.length >= 6) secrets.add(value);
}

export function scrubSecrets(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

export function clearSecretsForTests(): void {
  secrets.clear();
}
