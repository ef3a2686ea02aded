/** The only module that knows sbatch/squeue/sacct/scontrol/scancel command lines and their text output. */
export * from "./arrays.js";
export * from "./client.js";
export * from "./parse.js";
export * from "./sbatch.js";
