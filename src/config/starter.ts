/** The commented posefactory.yaml that `posefactory init` writes. */
export const STARTER_CONFIG = `# posefactory.yaml: see config.example.yaml in posefactory's repository for every key.
# Relative paths are relative to this file. Credentials never go here.
target: local                   # where to run; \`--target runpod\` picks another
characters: characters          # your .fbx/.glb/.gltf/.blend characters
data: data                      # results land in data/runs/<runId>/

cameras:
  azimuthsDeg: [0, 45, 90, 135, 180, 225, 270, 315]
  elevationsDeg: [10]
  margin: 0.05                  # free border around the character
  framing: follow               # cameras follow characters that walk

frames:
  step: 10                      # every 10th frame

render:
  samples: 32
  resolution: [512, 512]

detect:
  model: full                   # lite, full or heavy

targets:
  # Uncomment for a RunPod pod with Cloudflare R2 storage. Keys come from the environment:
  #   export POSEFACTORY_S3_ACCESS_KEY_ID=...  POSEFACTORY_S3_SECRET_ACCESS_KEY=...
  # runpod:
  #   executor: ssh
  #   host: pod                 # a Host alias from ~/.ssh/config works
  #   workdir: /workspace/posefactory
  #   costPerHour: 0.44
  #   storage:
  #     type: s3
  #     endpoint: https://ACCOUNT_ID.r2.cloudflarestorage.com
  #     bucket: posefactory
  #     prefix: posefactory/
`;
