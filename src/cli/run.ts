/**
 * Runs a command: its exit code, or, when it throws, one line saying what failed (never a stack
 * trace) and exit code 1. The process then ends by itself once its connections are closed.
 */
export async function runCommand(name: string, main: () => Promise<number | void>): Promise<void> {
  try {
    process.exitCode = (await main()) ?? 0;
  } catch (error) {
    console.error(`${name} failed: ${(error as Error).message}`);
    process.exitCode = 1;
  }
}
