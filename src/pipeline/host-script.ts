/**
 * The script a render job runs on its host. On an ssh target the host pulls its inputs from
 * storage and pushes its results back with rclone, configured only by environment variables
 * that travel inside the script sent on stdin (never a command line, never the host's disk);
 * so the results reach storage even when the laptop is gone. On the local target the job
 * renders straight into the run folder.
 */
import { posix } from "node:path";
import type { S3Credentials } from "../config/credentials.js";
import type { Config, S3StorageConfig } from "../config/schema.js";
import { buildCommand, quoteShell } from "../remote/shell.js";
import { buildRenderCommand } from "../render/blender.js";

/** rclone remote name used in job scripts; its settings come from RCLONE_CONFIG_PFSTORE_*. */
export const RCLONE_REMOTE = "pfstore";

export function buildRcloneEnv(
  storage: S3StorageConfig,
  credentials: S3Credentials,
): Record<string, string> {
  const env: Record<string, string> = {
    RCLONE_CONFIG_PFSTORE_TYPE: "s3",
    RCLONE_CONFIG_PFSTORE_PROVIDER: storage.endpoint?.includes("r2.cloudflarestorage.com")
      ? "Cloudflare"
      : "Other",
    RCLONE_CONFIG_PFSTORE_ENV_AUTH: "false",
    RCLONE_CONFIG_PFSTORE_ACCESS_KEY_ID: credentials.accessKeyId,
    RCLONE_CONFIG_PFSTORE_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    RCLONE_CONFIG_PFSTORE_REGION: storage.region,
    // Object-scoped R2 tokens may not check or create buckets.
    RCLONE_CONFIG_PFSTORE_NO_CHECK_BUCKET: "true",
    RCLONE_CONFIG_PFSTORE_FORCE_PATH_STYLE: String(storage.forcePathStyle),
  };
  if (storage.endpoint) env.RCLONE_CONFIG_PFSTORE_ENDPOINT = storage.endpoint;
  if (credentials.sessionToken) env.RCLONE_CONFIG_PFSTORE_SESSION_TOKEN = credentials.sessionToken;
  return env;
}

/** `pfstore:bucket/prefix/rest` */
export function rclonePath(storage: S3StorageConfig, key: string): string {
  return `${RCLONE_REMOTE}:${storage.bucket}/${key}`;
}

export interface DetectOnHost {
  python: string;
  model: Config["detect"]["model"];
  modelPath?: string;
  delegate: Config["detect"]["delegate"];
  minPoseDetectionConfidence: number;
  minPosePresenceConfidence: number;
}

export interface SshJobScriptOptions {
  storage: S3StorageConfig;
  /** <workdir> on the host; inputs are cached in <workdir>/inputs. */
  workdir: string;
  blender: string;
  runId: string;
  /** File names under inputs/characters/ that this job renders. */
  characterFiles: string[];
  /** job.json's text: the script writes it, which saves a round trip before the job starts. */
  jobJson: string;
  detect?: DetectOnHost;
}

export function hostInputsDir(workdir: string): string {
  return posix.join(workdir, "inputs");
}

// --config "": settings come only from the environment (no pod-side rclone.conf, no notice).
const RCLONE_FLAGS =
  '--config "" --transfers 8 --checkers 16 --stats 15s --stats-one-line --stats-log-level NOTICE';

/** Every host script starts so: rclone's environment cleaned up, and a way to say things. */
const PREAMBLE = [
  "set -u",
  "# rclone refuses to start with a CA bundle path it cannot load (NOTES.md).",
  "unset AWS_CA_BUNDLE",
  "# Same prefix as the Blender scripts' messages, so the CLI shows both at info level.",
  "pf_say() { printf 'posefactory: %s\\n' \"$*\"; }",
];

/** Checksums, then everything but the job's own files to <prefix>runs/<runId>/ (exit 22 on failure). */
function pushLines(
  storage: S3StorageConfig,
  runId: string,
  options: { copyLog: boolean },
): string[] {
  const runKey = `${storage.prefix}runs/${runId}`;
  return [
    'pf_say "pushing results to storage"',
    "find renders detections -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum > sha256sums.txt",
    ...(options.copyLog ? ["mkdir -p logs && cp -f job.log logs/job.log 2>/dev/null"] : []),
    `rclone copy . ${quoteShell(rclonePath(storage, runKey))} --exclude /job.sh --exclude /.job-wrapper.sh --exclude /job.log --exclude /status.json --exclude /characters.txt ${RCLONE_FLAGS} || { pf_say "pushing results failed"; exit 22; }`,
    'pf_say "done"',
  ];
}

/** The ssh target's job: pull inputs, render, detect (python backend), checksum, push. */
export function buildSshJobScript(options: SshJobScriptOptions): string {
  const { storage } = options;
  const inputs = hostInputsDir(options.workdir);
  const inputsKey = `${storage.prefix}inputs`;
  const q = quoteShell;
  const lines = [
    ...PREAMBLE,
    `inputs=${q(inputs)}`,
    'mkdir -p "$inputs/characters" "$inputs/blender"',
    "cat > job.json <<'PF_JOB_JSON_EOF'",
    options.jobJson.trimEnd(),
    "PF_JOB_JSON_EOF",
    "cat > characters.txt <<'PF_CHARACTERS_EOF'",
    ...options.characterFiles,
    "PF_CHARACTERS_EOF",
    'pf_say "pulling inputs from storage"',
    `rclone copy ${q(rclonePath(storage, `${inputsKey}/blender`))} "$inputs/blender" ${RCLONE_FLAGS} || { pf_say "pulling blender/ failed"; exit 20; }`,
    `rclone copy ${q(rclonePath(storage, `${inputsKey}/characters`))} "$inputs/characters" --files-from-raw characters.txt ${RCLONE_FLAGS} || { pf_say "pulling characters failed"; exit 20; }`,
    'pf_say "rendering"',
    `${buildRenderCommand(options.blender, "job.json", `${inputs}/blender`)}`,
    "rc=$?",
    'if [ "$rc" -gt 1 ]; then pf_say "Blender exited with $rc"; fi',
  ];
  if (options.detect) {
    const d = options.detect;
    const detect = [
      `${inputs}/blender/detect_pose.py`,
      "--run-dir",
      ".",
      "--model",
      d.model,
      "--delegate",
      d.delegate,
      "--min-pose-detection-confidence",
      String(d.minPoseDetectionConfidence),
      "--min-pose-presence-confidence",
      String(d.minPosePresenceConfidence),
      ...(d.modelPath ? ["--model-path", d.modelPath] : []),
    ];
    lines.push(
      'if [ "$rc" -le 1 ] && [ -f manifest.json ]; then',
      `  py=${q(d.python)}`,
      "  # The default python3 has no mediapipe: use the venv `posefactory setup-pod` made.",
      '  if [ "$py" = python3 ]; then',
      "    for p in /workspace/posefactory-tools/venv/bin/python /opt/posefactory/venv/bin/python; do",
      '      if [ -x "$p" ]; then py=$p; break; fi',
      "    done",
      "  fi",
      '  pf_say "detecting poses"',
      `  "$py" ${buildCommand(detect)} || { pf_say "detection failed"; rc=21; }`,
      "fi",
    );
  }
  lines.push(...pushLines(storage, options.runId, { copyLog: true }), 'exit "$rc"');
  return `${lines.join("\n")}\n`;
}

/**
 * A render that finished on the host but could not push (exit 22): push again, render nothing.
 * logs/job.log keeps the render's log (this job's own log is only the push).
 */
export function buildSshPushScript(options: { storage: S3StorageConfig; runId: string }): string {
  const lines = [
    ...PREAMBLE,
    '[ -f manifest.json ] || { pf_say "no manifest.json here: nothing to push"; exit 22; }',
    ...pushLines(options.storage, options.runId, { copyLog: false }),
    "exit 0",
  ];
  return `${lines.join("\n")}\n`;
}

/** The local target's job: render into the run folder (detection follows in the CLI). */
export function buildLocalJobScript(options: {
  blender: string;
  jobPath: string;
  blenderDir?: string;
}): string {
  return [
    "set -u",
    `${buildRenderCommand(options.blender, options.jobPath, options.blenderDir)}`,
    'exit "$?"',
    "",
  ].join("\n");
}
