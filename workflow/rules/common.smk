import json

from snakemake.utils import validate

from miam import late_fusion, pipeline

validate(config, schema="../schemas/config.schema.yaml")
pipeline.check_config(config)

DATASETS = list(config["datasets"])
STRATEGIES = list(config["strategies"])
SEEDS = config["seeds"]
NOTEBOOKS = ["comparison", "ablation", "dynamics"]


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    strategy="|".join(STRATEGIES),
    seed=r"\d+",
    subset=r"[A-Za-z0-9_+.-]+",


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def oracle_subsets(dataset):
    if not config["datasets"][dataset]["oracles"]:
        return []
    return list(pipeline.named_subsets(config["datasets"][dataset]))


def subset_spec(wildcards):
    return pipeline.named_subsets(config["datasets"][wildcards.dataset])[
        wildcards.subset
    ]


def strategy_spec(wildcards):
    return pipeline.strategy_spec(config, wildcards.dataset, wildcards.strategy)


def model_settings(wildcards):
    return pipeline.run_settings(config, wildcards.dataset, "model")


def training_settings(wildcards):
    return pipeline.run_settings(config, wildcards.dataset, "training")


def train_runtime(wildcards, attempt):
    """Minutes a training job may run; doubles on every retry (e.g. after a time-limit kill)."""
    return int(config["resources"]["train_runtime_min"] * 2 ** (attempt - 1))


def strategy_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/train/{strategy}/seed{seed}.csv",
        strategy=STRATEGIES,
        seed=SEEDS,
    )


def oracle_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/oracle/{subset}/seed{seed}.csv",
        subset=oracle_subsets(wildcards.dataset),
        seed=SEEDS,
    )


def training_histories(wildcards):
    return expand(
        "results/{{dataset}}/train/{strategy}/seed{seed}/history.csv",
        strategy=STRATEGIES,
        seed=SEEDS,
    )


def all_targets():
    return expand("results/{dataset}/tables/main.md", dataset=DATASETS) + expand(
        "results/{dataset}/reports/{notebook}.html",
        dataset=DATASETS,
        notebook=NOTEBOOKS,
    )


def evaluation_subsets(wildcards):
    """A strategy model: every subset of every family; an oracle: only its own subset."""
    dataset = config["datasets"][wildcards.dataset]
    if wildcards.family == "oracle":
        return {
            wildcards.name: ("named", pipeline.named_subsets(dataset)[wildcards.name])
        }
    return pipeline.evaluation_subsets(dataset)


def late_fusion_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/{model}/seed{seed}.csv",
        model=late_fusion.MODELS,
        seed=SEEDS,
    )


def model_evaluations(wildcards):
    """Every evaluation CSV of the dataset; each `model` in them is a row of the tables."""
    return (
        strategy_evaluations(wildcards)
        + late_fusion_evaluations(wildcards)
        + oracle_evaluations(wildcards)
    )


# --- data sources (download, shards) ---
# A download source's dataset YAML (config/datasets/*.yaml) lists its files. download_file makes
# each file key's file (for a per-observation folder: its download manifest), extract_archive
# unpacks the entries with `extract_to`; both rules match these exact paths only, so they never
# compete with other rules. Tokenization is `shards` tokenize_shard jobs, then gather_tokens.
from miam import download
from miam.archive import EXTRACTED_MARKER


def is_downloaded(name):
    return config["datasets"][name]["source"]["kind"] == "download"


def dataset_files(name):
    """The dataset YAML; a relative path is read from the repository (the Snakefile's folder)."""
    path = config["datasets"][name]["source"]["dataset_config"]
    return download.load_dataset_config(os.path.join(workflow.basedir, path))


def data_dir(name):
    """The folder the reader reads: generated here, or downloaded (`source.data_dir`)."""
    source = config["datasets"][name]["source"]
    return os.path.normpath(source.get("data_dir") or f"results/{name}/raw")


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


def reader_inputs(wildcards):
    """What the reader reads: the generated folder, or every downloaded (extracted) file."""
    name = wildcards.dataset
    if not is_downloaded(name):
        return [data_dir(name)]
    files, root = dataset_files(name), data_dir(name)
    return [str(download.entry_target(files, key, root)) for key in files["files"]]


def reader_options(wildcards):
    """Reader keyword arguments: a download's species filter (dataset YAML), then the config's."""
    dataset = config["datasets"][wildcards.dataset]
    options = {}
    if is_downloaded(wildcards.dataset):
        reader = dataset_files(wildcards.dataset)["reader"]
        options.update(reader.get("species_filter", {}))
    return {**options, **dataset["reader_options"]}


def shard_of(wildcards):
    """(k, n): the tokenize_shard job's block of samples (miam.tokens.shard_rows)."""
    return [int(wildcards.shard), config["datasets"][wildcards.dataset]["shards"]]


def token_shards(wildcards):
    shards = range(config["datasets"][wildcards.dataset]["shards"])
    folder = "results/{{dataset}}/shards/{shard}"
    return {
        "tokens": expand(f"{folder}/tokens", shard=shards),
        "quality": expand(f"{folder}/issues.csv", shard=shards),
    }


def gather_mem_mb(wildcards, attempt):
    """gather_tokens holds every shard and their concatenation at once."""
    return 2 * config["resources"]["data_mem_mb"] * attempt


def expected_classes(wildcards):
    """The class count the dataset YAML says the paper had (None: nothing to compare with)."""
    if not is_downloaded(wildcards.dataset):
        return None
    return dataset_files(wildcards.dataset)["reader"].get("expected_n_species")
