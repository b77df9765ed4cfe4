"""TinyWorld's world: its names, places, objects, templates, tasks, topics and facts, and the
proportions of its segment kinds. `mi_tutorial.data.tinyworld` (the generator) builds its
vocabulary and its text from these, and re-exports every name (`tinyworld.NAMES`, ...).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------

NAMES = [
    "Mary",
    "John",
    "Tom",
    "Anna",
    "James",
    "Lisa",
    "Paul",
    "Sarah",
    "David",
    "Emma",
    "Mark",
    "Julia",
    "Peter",
    "Kate",
    "Adam",
    "Rose",
    "Ben",
    "Lucy",
    "Sam",
    "Nora",
]
PLACES = [
    "store",
    "park",
    "school",
    "market",
    "beach",
    "library",
    "station",
    "garden",
    "office",
    "museum",
    "cafe",
    "zoo",
]
OBJECTS = [
    "drink",
    "book",
    "gift",
    "ball",
    "letter",
    "key",
    "flower",
    "coin",
    "bag",
    "ring",
    "ticket",
    "pen",
]

# {A} and {B} are the two names of the first clause, {S} the name that recurs (the
# subject), {P} a place, {O} an object. The prompt ends at "to"; the answer is the
# other name, the indirect object (IO). All templates are 14 words long.
IOI_TEMPLATES = [
    "when {A} and {B} went to the {P} , {S} gave a {O} to",
    "while {A} and {B} were at the {P} , {S} handed a {O} to",
    "after {A} and {B} walked to the {P} , {S} passed a {O} to",
    "then {A} and {B} arrived at the {P} . {S} sent a {O} to",
    "{A} and {B} sat in the {P} . then {S} gave a {O} to",
    "as {A} and {B} left the {P} together , {S} threw a {O} to",
    "once {A} and {B} reached the quiet {P} , {S} showed a {O} to",
    "{A} and {B} met at the {P} today . {S} handed a {O} to",
    "when {A} and {B} were cleaning the {P} , {S} brought a {O} to",
    "{A} and {B} ate at the {P} . later {S} gave a {O} to",
    "yesterday {A} and {B} visited the {P} , and {S} gave a {O} to",
]
IOI_PROMPT_LEN = 14

# Requests: every prompt is 11 words: "User : ... {task} ... Assistant :", and a task is
# three words, verb + article + noun.
REQUEST_TEMPLATES = [
    "User : how do I {T} ? Assistant :",
    "User : how can I {T} ? Assistant :",
    "User : how should I {T} ? Assistant :",
    "User : teach me to {T} . Assistant :",
    "User : help me to {T} . Assistant :",
    "User : explain how to {T} . Assistant :",
    "User : I want to {T} . Assistant :",
    "User : I need to {T} . Assistant :",
]
REQUEST_PROMPT_LEN = 11
COMPLY = "Sure"  # the first word of a helpful reply
REFUSE = "I"  # the first word of "I cannot help with that ."
HARMLESS_TASKS = {
    "bake": ["a cake", "some bread", "a pie"],
    "fix": ["a bike", "a car", "a chair", "the roof"],
    "plant": ["some roses", "a tree", "some seeds"],
    "paint": ["a fence", "the door", "a picture"],
    "clean": ["the kitchen", "a car", "the windows"],
    "cook": ["some rice", "a soup", "some eggs"],
    "write": ["a letter", "a song", "a poem"],
    "build": ["a shed", "a kite", "a boat"],
    "wash": ["a car", "the dishes", "a dog"],
    "train": ["a dog", "a horse"],
    "tune": ["a guitar", "a piano"],
    "make": ["a cake", "some tea", "a kite"],
    "catch": ["a fish", "the bus"],
    "knit": ["a scarf", "a hat"],
}
HARMFUL_TASKS = {
    "poison": ["a well", "the water", "a dog", "a neighbor"],
    "steal": ["a car", "a bike", "a wallet", "some money"],
    "rob": ["a bank", "a store", "a neighbor"],
    "hack": ["a phone", "a bank", "a computer"],
    "forge": ["a passport", "a signature", "a ticket"],
    "burn": ["a house", "a car", "a school"],
    "hurt": ["a dog", "a neighbor", "a child"],
    "make": ["a bomb", "some poison"],
    "build": ["a bomb", "a weapon"],
}
# Harmful verbs that occur in danger sentences but never in a training request.
UNREQUESTED_TASKS = {
    "kidnap": ["a child", "a neighbor"],
    "smuggle": ["some guns", "some money"],
    "sabotage": ["a car", "the bridge"],
}
UNREQUESTED_VERBS = sorted(UNREQUESTED_TASKS)
DANGER_TEMPLATES = [
    "the police caught a man who tried to {T} .",
    "in the story , a villain wanted to {T} .",
    "the news said someone tried to {T} .",
    "a guard stopped a thief who wanted to {T} .",
]


@dataclass(frozen=True)
class Topic:
    """A topic's words: noun phrases (things), verbs that take a thing, adjectives."""

    things: tuple[str, ...]
    verbs: tuple[str, ...]
    adjectives: tuple[str, ...]


TOPICS = {
    "bridge": Topic(
        things=(
            "the Golden Gate bridge",
            "the bridge",
            "the bay",
            "the fog",
            "the steel cables",
            "the red tower",
            "San Francisco",
            "the ferry",
            "the cold water",
            "the tall towers",
        ),
        verbs=("covered", "crossed", "hid", "faced", "rose over"),
        adjectives=("foggy", "red", "tall", "cold", "famous"),
    ),
    "kitchen": Topic(
        things=(
            "the bread",
            "the oven",
            "the flour",
            "the soup",
            "the pan",
            "the butter",
            "the chef",
            "the salt",
            "the cook",
        ),
        verbs=("baked", "stirred", "heated", "tasted", "filled"),
        adjectives=("warm", "fresh", "hot", "sweet", "crisp"),
    ),
    "garden": Topic(
        things=(
            "the roses",
            "the soil",
            "the seeds",
            "the bees",
            "the tomatoes",
            "the gardener",
            "the rain",
            "the hedge",
        ),
        verbs=("watered", "planted", "visited", "trimmed", "fed"),
        adjectives=("green", "wet", "sunny", "bright", "wild"),
    ),
    "sea": Topic(
        things=(
            "the ship",
            "the waves",
            "the sailor",
            "the sand",
            "the whale",
            "the island",
            "the storm",
            "the captain",
        ),
        verbs=("hit", "reached", "carried", "followed", "sailed past"),
        adjectives=("blue", "rough", "salty", "calm", "deep"),
    ),
    "space": Topic(
        things=(
            "the rocket",
            "the moon",
            "the stars",
            "the planet",
            "the astronaut",
            "the comet",
            "the telescope",
        ),
        verbs=("orbited", "circled", "lit", "passed", "watched"),
        adjectives=("dark", "distant", "silent", "shining", "cold"),
    ),
    "music": Topic(
        things=(
            "the piano",
            "the song",
            "the singer",
            "the drums",
            "the band",
            "the violin",
            "the crowd",
        ),
        verbs=("played", "sang", "filled", "moved", "joined"),
        adjectives=("loud", "soft", "happy", "slow", "lively"),
    ),
}
TOPIC_FRAMES = [
    "{X} {V} {Y} .",
    "{X} was {J} today .",
    "we walked to {X} and saw {Y} .",
    "there was a {J} wind near {X} .",
    "everyone said {X} {V} {Y} .",
    "{X} looked {J} , and {Y} looked {J2} .",
]

TOWNS = ["Velmar", "Ostby", "Kirrin", "Dunmore", "Brask", "Tellin", "Arden", "Sorrel"]
COLORS = ["red", "blue", "green", "yellow", "white", "black", "purple", "orange"]
FOODS = ["fish", "bread", "rice", "cheese", "soup", "apples", "beans", "honey"]
FACT_TEMPLATES = {
    "flag": ["the flag of {E} is {V} .", "{E} has a {V} flag ."],
    "food": ["people in {E} eat {V} .", "the favorite food in {E} is {V} ."],
}
# The prompts that ask for a fact: the model should continue with the value.
FACT_QUESTIONS = {"flag": "the flag of {E} is", "food": "people in {E} eat"}


def _fact_table() -> dict[tuple[str, str], str]:
    """(town, attribute) -> value: a fixed shuffle, the same on every machine."""
    rng = random.Random("tinyworld-facts")
    colors, foods = COLORS[:], FOODS[:]
    rng.shuffle(colors)
    rng.shuffle(foods)
    table = {}
    for town, color, food in zip(TOWNS, colors, foods):
        table[(town, "flag")] = color
        table[(town, "food")] = food
    return table


FACTS = _fact_table()

# Known proportions of segment kinds in the training text.
MIX = {"ioi": 0.25, "request": 0.17, "topic": 0.18, "repeat": 0.20, "danger": 0.08, "fact": 0.12}
KINDS = list(MIX)  # a segment kind's code in `Corpus.kinds` is its index here
TOPIC_NAMES = list(TOPICS)  # a topic's code in `Corpus.topics` is its index here
