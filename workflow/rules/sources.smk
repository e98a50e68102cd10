# Where each dataset's files come from and how the reader reads them: the input functions of
# data.smk (generate, download, extract) and tokenize.smk (shards). Functions only: Snakemake's
# linter wants rules and functions in separate files.
import os

from miam.inputs import download, local_source
from miam.inputs.archive import EXTRACTED_MARKER


def is_downloaded(name):
    return config["datasets"][name]["source"]["kind"] == "download"


def is_local(name):
    return config["datasets"][name]["source"]["kind"] == "local"


def is_generated(name):
    return config["datasets"][name]["source"]["kind"] == "synthetic"


def dataset_files(name):
    """The dataset YAML; a relative path is read from the repository (the Snakefile's folder)."""
    path = config["datasets"][name]["source"]["dataset_config"]
    return download.load_dataset_config(os.path.join(workflow.basedir, path))


def data_dir(name):
    """What the reader reads: the folder generated here or downloaded into (`source.data_dir`),
    or the local files where they are (`source.path`, a folder or the sample table)."""
    source = config["datasets"][name]["source"]
    if source["kind"] == "local":
        return os.path.normpath(source["path"])
    return os.path.normpath(source.get("data_dir") or raw_folder(name))


def source_manifest(name):
    """results/{dataset}/source/manifest.json: the local files' sizes and checksums."""
    return f"results/{name}/source/manifest.json"


def local_source_files(wildcards):
    """Every file of a local source: the manifest is redone when one of them is newer."""
    return [str(path) for path in local_source.local_files(data_dir(wildcards.dataset))]


def download_jobs():
    """{path: (dataset, file key)} of what download_file fetches and extract_archive unpacks
    (for the latter the path of the folder it unpacks into)."""
    fetched, extracted = {}, {}
    for name in filter(is_downloaded, DATASETS):
        files, root = dataset_files(name), data_dir(name)
        for key, entry in files["files"].items():
            if entry.get("extract_to"):
                extracted[f"{root}/{entry['extract_to']}"] = (name, key)
                fetched[f"{root}/{entry['path']}"] = (name, key)
            else:
                fetched[str(download.entry_target(files, key, root))] = (name, key)
    return fetched, extracted


FETCHED, EXTRACTED = download_jobs()


def exact_paths(paths):
    """A wildcard pattern matching exactly `paths` (and nothing when there are none)."""
    return "|".join(map(re.escape, sorted(paths))) or "(?!)"


def source_settings(wildcards):
    return dataset_config(wildcards)["source"]


def fetched_entry(wildcards):
    """What one download_file job needs: the dataset YAML, file key, folder and server."""
    name, key = FETCHED[wildcards.path]
    source = config["datasets"][name]["source"]
    return {
        "files": dataset_files(name),
        "file_key": key,
        "data_dir": data_dir(name),
        "base_url": source["base_url"],
        "retries": source["retries"],
    }


def records_index(wildcards):
    """A per-observation folder first needs the table its file names come from."""
    name, key = FETCHED[wildcards.path]
    files = dataset_files(name)
    records = files["files"][key].get("records_from")
    if records is None:
        return []
    return str(download.entry_target(files, records["file"], data_dir(name)))


def extracted_archive(wildcards):
    name, key = EXTRACTED[wildcards.folder]
    return f"{data_dir(name)}/{dataset_files(name)['files'][key]['path']}"


def reader_root(wildcards):
    return data_dir(wildcards.dataset)


def reader_inputs(wildcards):
    """What the reader reads: the generated folder, or every downloaded (extracted) file."""
    name = wildcards.dataset
    if is_local(name):
        return [source_manifest(name)]
    if not is_downloaded(name):
        return [data_dir(name)]
    files, root = dataset_files(name), data_dir(name)
    return [str(download.entry_target(files, key, root)) for key in files["files"]]


def reader_options(wildcards):
    """Reader keyword arguments: a download's species filter and the layout of the dataset YAML
    (`source.dataset_config`, for a local copy too), then the config's."""
    options = {}
    source = config["datasets"][wildcards.dataset]["source"]
    # The generic reader's species filter is its `label` option's.
    if source.get("dataset_config") and reader_name(wildcards) != "generic":
        files = dataset_files(wildcards.dataset)
        if is_downloaded(wildcards.dataset):
            options.update(files["reader"].get("species_filter", {}))
        options["layout"] = files["layout"]
    return {**options, **dataset_config(wildcards)["reader_options"]}


def shard_of(wildcards):
    """(k, n): the tokenize_shard job's block of samples (miam.core.tokens.shard_rows)."""
    return [int(wildcards.shard), config["datasets"][wildcards.dataset]["shards"]]


def token_shards(wildcards):
    shards = range(config["datasets"][wildcards.dataset]["shards"])
    return {
        key: [shard_file(wildcards.dataset, shard, file) for shard in shards]
        for key, file in [("tokens", "tokens"), ("quality", "issues.csv")]
    }


def expected_classes(wildcards):
    """The class count the dataset YAML says the paper had (None: nothing to compare with)."""
    if not is_downloaded(wildcards.dataset):
        return None
    return dataset_files(wildcards.dataset)["reader"].get("expected_n_species")
