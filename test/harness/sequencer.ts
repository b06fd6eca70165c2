import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Files that must run after every other file of the run: the secret scan reads what they all left. */
const last = /(^|\/)zz-[^/]*\.test\.ts$/;

export class LastFilesLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return [...sorted.filter((file) => !last.test(file.moduleId)), ...sorted.filter((file) => last.test(file.moduleId))];
  }
}
