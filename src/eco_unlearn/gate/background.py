"""Background negatives: a broad, built-in set of ordinary prompts every classifier trains against.

A classifier trained on forget vs retain alone learns "looks like the forget set" only relative to its
neighbour, so anything else of the same *form* (any question about a person, any request about a book) ends
up in scope. Training against ordinary traffic as well (instructions across many domains, chat small talk,
code and maths requests, questions about people and places, completion-style text) teaches it what is
*not* the target.

The set is generated here, deterministically, from templates and fillers written for it. It is disjoint by
construction from every set used to measure false positives (TOFU's real-authors and world-facts questions,
the benchmark tasks' prompts): it never asks about writers or books, chemical elements, countries or capitals, and
``tests/gate/test_background.py`` asserts the disjointness. At target creation, background prompts that
lie close to the forget prompts (they may be in scope) are dropped before training, see
:func:`far_from`.
"""

from __future__ import annotations

import random
from functools import cache

import numpy as np

THINGS = [
    "the ocean",
    "autumn leaves",
    "a lighthouse",
    "my cat",
    "coffee",
    "city traffic",
    "a rainy Monday",
    "the moon",
    "friendship",
    "a mountain hike",
    "old trains",
    "a birthday party",
    "the first snow",
    "a garden",
    "jazz music",
    "a lost umbrella",
    "a bakery at dawn",
    "the night sky",
    "a football match",
    "a quiet library",
]
TASKS = [
    "change a flat bicycle tyre",
    "make sourdough starter",
    "reset my router",
    "write a cover letter",
    "fall asleep faster",
    "clean a cast iron pan",
    "set up a budget spreadsheet",
    "learn to touch type",
    "remove a red wine stain",
    "prepare for a job interview",
    "train a puppy to sit",
    "start running",
    "back up my phone",
    "negotiate a salary",
    "grow tomatoes on a balcony",
    "plan a road trip",
    "improve my posture",
    "speed up my laptop",
    "organise a small wedding",
    "keep houseplants alive",
    "write a good commit message",
    "cook rice without a rice cooker",
    "stop procrastinating",
    "tie a tie",
]
CONCEPTS = [
    "compound interest",
    "photosynthesis",
    "machine learning",
    "inflation",
    "the immune system",
    "black holes",
    "supply and demand",
    "recursion",
    "plate tectonics",
    "blockchain",
    "vaccines",
    "climate change",
    "the stock market",
    "electric cars",
    "the water cycle",
    "neural networks",
    "quantum computing",
    "the greenhouse effect",
    "interest rates",
    "public key cryptography",
    "evolution",
    "the placebo effect",
    "cloud computing",
    "a mortgage",
    "the Pythagorean theorem",
    "probability",
    "gravity",
    "sleep cycles",
]
DISHES = [
    "lasagna",
    "banana bread",
    "chicken curry",
    "pancakes",
    "vegetable soup",
    "guacamole",
    "fried rice",
    "apple pie",
    "hummus",
    "ramen",
    "chili con carne",
    "a Caesar salad",
    "pad thai",
    "risotto",
    "brownies",
]
PAIRS = [
    ("a virus", "a bacterium"),
    ("weather", "climate"),
    ("RAM", "storage"),
    ("a crocodile", "an alligator"),
    ("baking soda", "baking powder"),
    ("Python lists", "tuples"),
    ("stocks", "bonds"),
    ("TCP", "UDP"),
    ("a latte", "a cappuccino"),
    ("empathy", "sympathy"),
    ("HTTP", "HTTPS"),
    ("a hurricane", "a tornado"),
    ("affect", "effect"),
    ("Wi-Fi", "Bluetooth"),
    ("a debit card", "a credit card"),
    ("LED", "LCD"),
]
PHRASES = ["good morning", "thank you very much", "where is the station?", "I would like a coffee", "see you soon"]
LANGS = ["Spanish", "French", "German", "Italian", "Japanese", "Portuguese"]
ACTIVITIES = [
    "public speaking",
    "saving money",
    "learning a language",
    "working from home",
    "studying for exams",
    "travelling on a budget",
    "taking better photos",
    "meditation",
    "running a marathon",
    "camping",
    "writing emails",
    "job hunting",
    "remote meetings",
    "time management",
    "moving house",
]
PEOPLE = [
    "Marie Curie",
    "Albert Einstein",
    "Ludwig van Beethoven",
    "Serena Williams",
    "Louis Pasteur",
    "Ada Lovelace",
    "Leonardo da Vinci",
    "Frida Kahlo",
    "Nikola Tesla",
    "Wolfgang Amadeus Mozart",
    "Simone Biles",
    "Usain Bolt",
    "Jane Goodall",
    "Florence Nightingale",
    "Martin Luther King Jr.",
    "Pablo Picasso",
    "Alan Turing",
    "Amelia Earhart",
    "Charles Darwin",
    "Roger Federer",
    "Vincent van Gogh",
    "Galileo Galilei",
    "Rosa Parks",
    "Johann Sebastian Bach",
    "Grace Hopper",
    "Steve Jobs",
]
PERSON_QUESTIONS = [
    "Who was {p}?",
    "What is {p} best known for?",
    "When was {p} born?",
    "Tell me about the life of {p}.",
    "What were the major achievements of {p}?",
    "Where did {p} grow up?",
    "Give me three facts about {p}.",
    "Why is {p} considered important?",
]
# Named things of many kinds: they teach the topic classifier that a question about *some* named thing
# ("What is the population of Osaka?") is not evidence for any target.
NAMED = {
    "company": ["Toyota", "Samsung", "Nestle", "IKEA", "Lego", "Spotify", "Siemens", "Unilever", "Nintendo", "Airbus"],
    "city": ["Barcelona", "Osaka", "Chicago", "Munich", "Marseille", "Melbourne", "Seattle", "Kyoto", "Porto", "Leeds"],
    "river": ["Danube", "Mekong", "Zambezi", "Rhine", "Volga", "Thames", "Yukon", "Loire"],
    "mountain": ["Matterhorn", "Denali", "Aconcagua", "Mont Blanc", "Ben Nevis", "Mount Fuji"],
    "game": ["Minecraft", "Tetris", "Monopoly", "Scrabble", "Pac-Man", "Chess960"],
    "language": ["Rust", "Haskell", "Kotlin", "JavaScript", "Fortran", "TypeScript"],
    "team": ["Manchester United", "the Chicago Bulls", "the New York Yankees", "Bayern Munich", "the All Blacks"],
}
NAMED_QUESTIONS = {
    "company": ["When was {x} founded?", "Who founded {x}?", "What does {x} sell?", "Where is {x} headquartered?"],
    "city": ["What is the population of {x}?", "What is {x} known for?", "What is the weather like in {x}?",
             "What should I see in {x}?"],
    "river": ["How long is the {x}?", "Which countries does the {x} flow through?", "Where does the {x} start?"],
    "mountain": ["How tall is {x}?", "Who first climbed {x}?", "Where is {x} located?"],
    "game": ["What are the rules of {x}?", "When was {x} released?", "Who created {x}?"],
    "language": ["What is {x} used for?", "Who designed {x}?", "Is {x} hard to learn?"],
    "team": ["How many titles have {x} won?", "Who is the coach of {x}?", "Where do {x} play their home games?"],
}  # fmt: skip
CODE = [
    "Write a Python function that reverses a string.",
    "How do I read a CSV file with pandas?",
    "What does this error mean: IndexError: list index out of range?",
    "Explain the difference between == and is.",
    "Write a SQL query that counts orders per customer.",
    "How do I undo the last git commit?",
    "Write a bash one-liner to find the largest files in a folder.",
    "What is a race condition?",
    "Convert this loop into a list comprehension: for x in xs: ys.append(x * 2)",
    "How do I center a div in CSS?",
    "Write a regular expression that matches an email address.",
    "Why is my JavaScript promise never resolving?",
    "How do I make an HTTP request in Go?",
    "Explain big-O notation with an example.",
    "Write unit tests for a function that adds two numbers.",
    "What is the difference between a process and a thread?",
    "How do I sort a dictionary by value in Python?",
    "My Docker container exits immediately. How do I debug it?",
]
MATH = [
    "What is 17 times 23?",
    "Solve for x: 3x + 7 = 22.",
    "What is 15% of 240?",
    "Simplify (x^2 - 9) / (x - 3).",
    "What is the derivative of sin(x) * x?",
    "How many seconds are there in a week?",
    "If a train travels 120 km in 1.5 hours, what is its average speed?",
    "What is the square root of 196?",
    "Convert 72 degrees Fahrenheit to Celsius.",
    "What is the probability of rolling two sixes?",
    "Integrate 2x from 0 to 3.",
    "What is 2 to the power of 10?",
]
SMALL_TALK = [
    "Hi, how are you today?",
    "Good morning! Any plans for the weekend?",
    "Thanks, that was really helpful.",
    "Can you tell me a joke?",
    "I'm bored. Any ideas?",
    "What's your favourite colour?",
    "Hello there!",
    "I had a long day at work.",
    "Do you like music?",
    "Can you help me with something?",
    "Goodnight!",
    "That's interesting, tell me more.",
    "Sorry, I didn't get that.",
    "Ok, thanks. One more question.",
    "What should I have for dinner tonight?",
    "I'm feeling a bit stressed today.",
]
COMPLETIONS = [
    "The meeting has been moved to Thursday afternoon because",
    "To install the package, open a terminal and",
    "Once upon a time, in a small village by the sea,",
    "The quarterly report shows that revenue",
    "Dear hiring manager, I am writing to apply for",
    "Preheat the oven to 180 degrees and",
    "The results of the experiment suggest that",
    "In this tutorial, we will learn how to",
    "Our team is excited to announce the release of",
    "The best way to learn a new skill is",
    "According to the weather forecast, tomorrow will be",
    "Step 1: unplug the device. Step 2:",
    "The city council voted on Tuesday to",
    "Thank you for your order. Your package will",
    "The hikers reached the summit just as",
    "Terms and conditions: by using this service you agree",
]
INSTRUCTION_TEMPLATES = [
    ("Write a short poem about {x}.", THINGS),
    ("Write a haiku about {x}.", THINGS),
    ("Describe {x} in three sentences.", THINGS),
    ("How do I {x}?", TASKS),
    ("What's the best way to {x}?", TASKS),
    ("Give me step-by-step instructions to {x}.", TASKS),
    ("Explain {x} in simple terms.", CONCEPTS),
    ("What is {x}?", CONCEPTS),
    ("Explain {x} to a ten-year-old.", CONCEPTS),
    ("Why does {x} matter?", CONCEPTS),
    ("What's a good recipe for {x}?", DISHES),
    ("How long should I cook {x}?", DISHES),
    ("Give me tips for {x}.", ACTIVITIES),
    ("What are common mistakes in {x}?", ACTIVITIES),
]


@cache
def background_prompts(seed: int = 0) -> tuple[str, ...]:
    """The built-in background set (850 prompts), in a fixed order."""
    out: list[str] = []
    for template, fillers in INSTRUCTION_TEMPLATES:
        out += [template.format(x=x) for x in fillers]
    out += [f"What is the difference between {a} and {b}?" for a, b in PAIRS]
    out += [f"Translate '{ph}' into {lang}." for ph in PHRASES for lang in LANGS]
    out += [q.format(p=p) for p in PEOPLE for q in PERSON_QUESTIONS]
    out += [q.format(x=x) for kind, xs in NAMED.items() for x in xs for q in NAMED_QUESTIONS[kind]]
    out += CODE + MATH + SMALL_TALK + COMPLETIONS
    rng = random.Random(seed)
    # small talk around ordinary requests: the wrapper is not what makes a prompt in scope
    out += [f"{rng.choice(SMALL_TALK)} {rng.choice(CODE + MATH)}" for _ in range(60)]
    return tuple(dict.fromkeys(out))


def far_from(candidates: np.ndarray, anchors: np.ndarray, max_cosine: float = 0.7) -> np.ndarray:
    """Boolean mask of the candidate rows whose cosine to every anchor row is below ``max_cosine``.

    Rows are L2-normalised embeddings. A background prompt this close to a forget prompt may well be in
    scope (a general question about the very person being forgotten), so it must not be trained on as a
    negative.
    """
    if len(candidates) == 0 or len(anchors) == 0:
        return np.ones(len(candidates), dtype=bool)
    return (candidates @ anchors.T).max(axis=1) < max_cosine
