#!/usr/bin/env python3
"""Generate data/sentences.txt, the English text that `hubmamba synth` reads aloud.

A small template grammar over hand-written, benign word lists (people, animals, food, objects, vehicles,
places, events, names, adjectives by what they describe, verbs by what they take as object). Verbs are
inflected (base, -s, past, participle, -ing) and nouns pluralized, so the corpus exercises many word forms.
The output is deterministic for a seed (Python's random.Random is stable across versions for seeded
random()/choice()/shuffle()), contains no digits or abbreviations (every word is spelled the way a TTS engine
reads it), and the script checks the corpus' size before writing it:
  >= 3000 distinct sentences, >= 2000 distinct word types.

Usage: python3 tools/make_sentences.py [--seed 1] [--count 5000] [--out data/sentences.txt]
"""
import argparse
import random
import re
import sys

# ---------------------------------------------------------------------------------------------------------------
# Nouns. "a|b" gives an irregular plural; "a|" a noun used only in the singular.
PEOPLE = """farmer teacher doctor nurse baker pilot sailor driver painter writer singer dancer student child|children
woman|women man|men boy girl neighbor friend cousin uncle aunt grandmother grandfather mother father brother sister
captain king queen prince princess guard judge lawyer fisherman|fishermen gardener carpenter plumber mechanic
engineer scientist artist musician poet actor chef cook waiter waitress clerk banker merchant shopkeeper tailor
shepherd miner builder traveler stranger visitor guest host player coach runner swimmer climber reader owner
manager worker officer ranger professor librarian dentist surgeon pharmacist photographer reporter editor author
inventor explorer astronomer keeper jeweler potter weaver blacksmith mayor villager baby|babies teenager lady|ladies
gentleman|gentlemen husband wife|wives daughter son nephew niece twin partner customer passenger tourist pupil
scholar monk priest sheriff cowboy firefighter janitor butler maid nanny|nannies tutor principal architect
astronaut detective magician juggler clown drummer violinist pianist composer conductor cashier barber hairdresser
florist grocer butcher fireman|firemen postman|postmen milkman|milkmen lifeguard umpire referee champion hero|heroes
volunteer apprentice beekeeper lumberjack mountaineer navigator botanist geologist historian sculptor novelist
""".split()
FAMILY = """mother father brother sister uncle aunt cousin grandmother grandfather daughter son nephew niece wife husband
friend neighbor teacher partner boss roommate""".split()
ANIMALS = """dog cat horse cow sheep|sheep goat pig chicken duck goose|geese rabbit mouse|mice fox wolf|wolves bear
deer|deer lion tiger elephant monkey giraffe zebra camel donkey mule owl eagle hawk crow sparrow robin pigeon parrot
swan frog toad turtle lizard fish|fish whale dolphin seal otter beaver squirrel hedgehog badger bee ant butterfly|butterflies
beetle moth kitten puppy|puppies calf|calves lamb pony|ponies bull hen rooster penguin kangaroo panda raccoon moose|moose
buffalo|buffaloes crab lobster snail bat hamster canary|canaries goldfish|goldfish peacock flamingo pelican gull
heron woodpecker cricket grasshopper ladybug|ladybugs dragonfly|dragonflies chipmunk koala gorilla leopard cheetah
rhino hippo walrus|walruses seahorse starfish|starfish jellyfish|jellyfish""".split()
FOOD = """apple orange banana pear peach|peaches plum grape cherry|cherries lemon melon berry|berries strawberry|strawberries
potato|potatoes tomato|tomatoes carrot onion cabbage bean pea cucumber pepper pumpkin mushroom cake pie cookie biscuit
sandwich|sandwiches egg sausage pancake muffin pizza salad nut walnut almond olive candy|candies pudding bun pastry|pastries
tart waffle omelet peanut turnip radish|radishes lime coconut pineapple apricot raisin cupcake doughnut pretzel
dumpling cracker noodle loaf|loaves meatball pickle avocado mango|mangoes""".split()
MASS_FOOD = """bread rice soup cheese butter honey milk tea coffee jam chocolate porridge toast lettuce spinach broccoli
yogurt cereal juice lemonade flour sugar salt pasta cream corn garlic ginger cinnamon oatmeal popcorn""".split()
OBJECTS = """book pen pencil cup bowl plate spoon fork knife|knives bottle jar basket bag box|boxes key lamp candle clock
watch|watches ring hat coat shoe boot sock glove scarf|scarves shirt dress|dresses jacket umbrella ladder hammer rope bucket
brush|brushes comb mirror pillow blanket chair table bench|benches desk shelf|shelves drawer map letter card ticket coin
stamp envelope newspaper magazine notebook diary|diaries photograph picture painting drum guitar piano violin flute
trumpet bell whistle ball kite doll toy puzzle radio camera telephone computer television kettle pot pan teapot tray
vase flag needle button ribbon feather shell stone pebble brick log stick leaf|leaves flower seed wheel barrel crate
sack suitcase wallet purse necklace bracelet crown sled tent net fan mat rug towel sponge lantern compass telescope
microscope globe calendar poster ruler eraser battery|batteries bulb chain lock hook shovel rake paintbrush|paintbrushes
trophy|trophies medal badge gift parcel package note recipe list menu quilt cushion curtain carpet jug mug saucer
thermos|thermoses backpack apron helmet sweater skirt belt tie scarf|scarves mitten sandal slipper bracket cabinet
cupboard stool sofa couch|couches mattress statue vase sculpture candlestick postcard banner ornament marble balloon
rattle yoyo|yoyos""".split()
VEHICLES = """car bus|buses train truck boat ship bicycle plane taxi tractor wagon van canoe ferry|ferries helicopter
motorcycle scooter yacht raft carriage tram rocket submarine""".split()
PLACES = """house school library|libraries market church|churches hospital station airport park garden farm beach|beaches
river lake forest mountain hill valley village town city|cities castle palace museum theater cinema bakery|bakeries
cafe restaurant hotel office factory|factories bank shop store bridge harbor island field meadow road street square
tower cottage barn stable kitchen bedroom cellar attic garage porch|porches yard hall classroom playground stadium zoo
pond stream cave desert jungle orchard vineyard lighthouse mill pier dock shore coast cliff canyon camp temple chapel
courtyard gallery|galleries studio workshop laboratory|laboratories warehouse pharmacy|pharmacies bookstore greenhouse
tunnel fountain gate cathedral monastery|monasteries village inn farmhouse bungalow cabin hut lodge mansion
apartment basement balcony|balconies corridor lobby|lobbies staircase rooftop seaside riverbank hillside
countryside|""".split()
EVENTS = """party|parties concert game match|matches festival wedding meeting lesson picnic race show exam class|classes
speech|speeches contest parade ceremony|ceremonies rehearsal performance lecture tournament fair auction
celebration dinner lunch breakfast supper birthday holiday vacation trip journey|journeys""".split()
TEXTS = """story|stories song poem joke question letter message riddle speech|speeches report novel chapter
article essay lullaby|lullabies prayer|prayers rhyme verse""".split()
NAMES = """Anna Ben Clara Daniel Emma Frank Grace Henry Isabel Jack Kate Leo Maria Nathan Olivia Peter Rachel Samuel Tom
Victor Wendy Yvonne Zoe Alice Arthur Bella Charles David Edward Elena Fiona George Hannah Isaac James Julia Kevin Laura
Lucy Martin Molly Nina Oscar Paul Paula Rose Ruth Simon Sophie Thomas Victoria William Adam Amy Andrew Betty Carl
Carol Diana Eric Ellen Felix Frances Gordon Helen Hugo Irene Ivan Jane John Karen Keith Linda Louis Mark Mary Michael
Nancy Neil Owen Patrick Philip Rebecca Robert Sarah Steven Susan Teresa Tony Vincent Walter Alan Brian Colin
Derek Dorothy Edith Frederick Gloria Harold Hazel Jacob Joseph Lily Margaret Noah Oliver Pamela Ralph Rosa Sam Stella
Violet Albert Agnes Bernard Cecilia Dennis Eleanor Florence Gabriel Harriet Leonard Lewis Mabel Miriam Norman
Patricia Roger Sylvia Timothy Vera Wallace Abigail Benjamin Caroline Dominic Emily Gregory Jasmine Lauren Matthew
Natalie Quentin Sebastian Theodore Wilfred""".split()
PROPER_PLACES = """London Paris Boston Chicago Dublin Edinburgh Glasgow Madrid Rome Berlin Vienna Oslo Sydney Toronto
Denver Seattle Houston Atlanta Phoenix Portland Oxford Cambridge York Bristol Liverpool Manchester Leeds Cardiff
Belfast Geneva Lisbon Prague Warsaw Cairo Tokyo Delhi Lima Montreal Vancouver Melbourne Auckland Denmark
Norway Sweden Finland Spain Italy France Germany Canada Mexico Brazil Peru Chile Egypt Kenya India China Japan
Ireland Scotland Wales England Iceland Portugal Austria Poland Holland Switzerland Morocco Nepal Iceland Hungary
Brussels Amsterdam Stockholm Copenhagen Helsinki Budapest Venice Florence Naples Milan Munich Hamburg Zurich
Quebec Ottawa Alaska Texas Ohio Oregon Vermont Maine Kansas Nevada Utah Idaho Montana Georgia Virginia Kentucky""".split()

# ---------------------------------------------------------------------------------------------------------------
# Adjectives, by what they can describe.
ADJ_ANY = """big small large little tiny huge old new red blue green yellow white black brown gray purple pink golden
silver bright dark lovely pretty strange beautiful famous favorite wonderful ordinary unusual marvelous splendid
charming""".split()
ADJ_THING = """wooden heavy light clean dirty empty full warm cold soft hard smooth rough shiny dusty broken plain simple
fancy round square flat sharp thin thick rare expensive cheap precious valuable useful tidy messy wet dry frozen pale
colorful striped spotted ancient modern narrow wide long short tall deep shallow quiet noisy crowded lonely peaceful
enormous fragile sturdy elegant rusty polished painted shabby handmade spotless sparkling wobbly squeaky
crumpled""".split()
ADJ_FOOD = """fresh ripe sweet sour bitter salty tasty delicious crisp juicy spicy warm cold hot soft stale crunchy
creamy buttery homemade roasted baked boiled frozen sliced chopped""".split()
ADJ_BEING = """young clever brave gentle kind friendly polite proud shy calm happy cheerful tired hungry thirsty sleepy
busy careful patient honest funny serious wise silly lazy eager nervous excited worried surprised grateful lucky
generous jolly sensible clumsy graceful handsome strong healthy swift slow quick loyal humble modest bold playful
wild tame fluffy furry curious cheeky cautious restless thoughtful talented cheerful helpful hopeful joyful
lively merry nimble sleepy grumpy chatty bashful""".split()
ADJ_PLACE = """busy quiet crowded empty peaceful lonely noisy sunny shady muddy sandy rocky grassy leafy icy windy
beautiful ancient modern cozy""".split()
WEATHER_ADJ = "sunny windy rainy snowy foggy cloudy stormy chilly frosty misty humid breezy gloomy".split()
ADVERBS = """quickly slowly quietly loudly happily carefully gently softly suddenly finally eagerly calmly patiently
proudly bravely politely kindly warmly silently cheerfully nervously gracefully clumsily easily boldly wisely neatly
firmly briskly lazily merrily peacefully steadily swiftly smoothly sweetly gladly openly quietly anxiously
cautiously joyfully playfully hastily promptly""".split()
FREQ = "always never often sometimes usually rarely seldom".split()
COUNTS = "two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = "January February March April May June July August September October November December".split()
SEASONS = "spring summer autumn winter".split()
PARTS_OF_DAY = "morning afternoon evening night".split()
LOC_PREPS = "in near behind beside inside outside under above below across along around through past beyond".split()
PRONOUNS = [("he", "his", "him"), ("she", "her", "her")]
MODALS = "will can could should might must would".split()
THINK = "think hope believe know guess suppose imagine".split()

# ---------------------------------------------------------------------------------------------------------------
# Verbs: base [past [participle [3sg [ing]]]]; missing forms follow the regular rules below.
def V(spec):
    parts = spec.split("/")
    base = parts[0]
    past = parts[1] if len(parts) > 1 and parts[1] else regular_past(base)
    pp = parts[2] if len(parts) > 2 and parts[2] else past
    s3 = parts[3] if len(parts) > 3 and parts[3] else third_person(base)
    ing = parts[4] if len(parts) > 4 and parts[4] else gerund(base)
    return {"base": base, "past": past, "pp": pp, "s": s3, "ing": ing}

def regular_past(b):
    if b.endswith("e"):
        return b + "d"
    if re.search(r"[^aeiou]y$", b):
        return b[:-1] + "ied"
    return b + "ed"

def third_person(b):
    if re.search(r"(s|sh|ch|x|z|o)$", b):
        return b + "es"
    if re.search(r"[^aeiou]y$", b):
        return b[:-1] + "ies"
    return b + "s"

def gerund(b):
    if b.endswith("ie"):
        return b[:-2] + "ying"
    if b.endswith("e") and not b.endswith("ee"):
        return b[:-1] + "ing"
    return b + "ing"

def verbs(text):
    return [V(s) for s in text.split()]

# Doubling verbs spell every form: drop/dropped//drops/dropping.
V_THING = verbs("""find/found buy/bought sell/sold carry drop/dropped//drops/dropping lift open close clean wash paint fix
repair borrow return wrap/wrapped//wraps/wrapping hide/hid/hidden pack polish move push pull hold/held keep/kept
bring/brought take/took/taken notice see/saw/seen need want like love admire check count collect sort stack fold fill
empty mend sew/sewed/sewn build/built make/made design draw/drew/drawn describe measure weigh examine study order
deliver share trade hang/hung place forget/forgot/forgotten remember lose/lost steal/stole/stolen|skip dust inspect
decorate label unpack replace shake/shook/shaken drag/dragged//drags/dragging chose|skip choose/chose/chosen
grab/grabbed//grabs/grabbing spot/spotted//spots/spotting test sketch/sketched//sketches polish search/searched//searches
print donate improve arrange""".replace("steal/stole/stolen|skip", "").replace("chose|skip", ""))
V_FOOD = verbs("""eat/ate/eaten cook bake taste slice chop/chopped//chops/chopping peel serve buy/bought grow/grew/grown
pick share order wrap/wrapped//wraps/wrapping smell enjoy fry/fried//fries/frying boil roast mix/mixed//mixes
freeze/froze/frozen warm finish want like love bring/brought prepare weigh""")
V_ANIMAL = verbs("""feed/fed chase follow watch/watched//watches photograph draw/drew/drawn find/found see/saw/seen
hear/heard rescue wash brush/brushed//brushes pat/patted//pats/patting train count notice admire catch/caught//catches
carry walk call help love like tickle groom spot/spotted//spots/spotting comfort""")
V_PERSON = verbs("""meet/met visit call help thank greet invite teach/taught//teaches ask follow watch/watched//watches
admire hug/hugged//hugs/hugging trust surprise welcome warn remember forget/forgot/forgotten miss/missed//misses phone
interview hire join answer praise comfort cheer guide photograph draw/drew/drawn recognize/recognized//recognizes
congratulate thank encourage amuse entertain""")
V_PLACE = verbs("""visit leave/left reach/reached//reaches enter clean paint explore find/found cross/crossed//crosses
pass/passed//passes build/built tour search/searched//searches guard decorate photograph admire describe sketch/sketched//sketches
approach/approached//approaches circle""")
V_VEHICLE = verbs("""drive/drove/driven ride/rode/ridden park wash/washed//washes fix/fixed//fixes repair paint board buy/bought
sell/sold steer load unload rent borrow miss/missed//misses catch/caught//catches""")
V_EVENT = verbs("""plan/planned//plans/planning enjoy attend miss/missed//misses organize remember watch/watched//watches
win/won//wins/winning lose/lost finish start postpone describe announce host join love prepare""")
V_TEXT = verbs("""write/wrote/written read/read/read tell/told hear/heard recite remember forget/forgot/forgotten share
learn type send/sent receive answer compose practice translate print memorize whisper/whispered""")
V_MOTION = verbs("""walk run/ran/run//runs/running drive/drove/driven go/went/gone/goes come/came/come hurry
rush/rushed//rushes return travel/traveled wander march/marched//marches stroll jog/jogged//jogs/jogging
swim/swam/swum//swims/swimming sail cycle move race climb hike skip/skipped//skips/skipping""")
V_INTRANS = verbs("""laugh smile sing/sang/sung dance sleep/slept wait listen whisper/whispered//whispers shout jump play work
rest sit/sat/sat//sits/sitting stand/stood wave nod/nodded//nods/nodding sigh yawn pause cheer clap/clapped//claps/clapping
hum/hummed//hums/humming giggle sneeze blink shiver frown grin/grinned//grins/grinning stretch/stretched//stretches
skate read/read/read write/wrote/written study paint agree relax hesitate""")
V_ANIMAL_INTRANS = verbs("""sleep/slept rest play wait hide/hid/hidden run/ran/run//runs/running wander sit/sat/sat//sits/sitting
jump swim/swam/swum//swims/swimming yawn stretch/stretched//stretches shiver""")

# ---------------------------------------------------------------------------------------------------------------
def noun_forms(words):
    """(singular, plural or None) pairs from the 'a|b' notation."""
    out = []
    for w in words:
        if "|" in w:
            s, p = w.split("|")
            out.append((s, p or None))
        else:
            out.append((w, pluralize(w)))
    return out

def pluralize(w):
    if re.search(r"(s|sh|ch|x|z)$", w):
        return w + "es"
    if re.search(r"[^aeiou]y$", w):
        return w[:-1] + "ies"
    return w + "s"

N = {k: noun_forms(v) for k, v in dict(person=PEOPLE, family=FAMILY, animal=ANIMALS, food=FOOD, thing=OBJECTS,
                                          vehicle=VEHICLES, place=PLACES, event=EVENTS, text=TEXTS).items()}
ADJ = {"person": ADJ_BEING, "family": ADJ_BEING, "animal": ADJ_BEING, "food": ADJ_FOOD, "thing": ADJ_THING,
       "vehicle": ADJ_THING, "place": ADJ_PLACE, "event": ["wonderful", "long", "short", "famous",
       "splendid", "quiet", "noisy", "lovely", "strange", "unusual", "marvelous", "ordinary"],
       "text": ["long", "short", "strange", "famous", "lovely", "funny", "serious", "beautiful", "wonderful",
                "simple", "unusual", "charming", "silly", "clever"]}
OBJ_VERBS = {"thing": V_THING, "food": V_FOOD, "animal": V_ANIMAL, "person": V_PERSON, "place": V_PLACE,
             "vehicle": V_VEHICLE, "event": V_EVENT, "text": V_TEXT}


def starts_with_vowel_sound(word):
    """English 'an' rule by sound: an honest cook, a useful box, an uncle."""
    w = word.lower()
    if w.startswith(("use", "uni", "eu")):
        return False
    return w[0] in "aeiou" or w.startswith(("hon", "hour"))


class Gen:
    def __init__(self, rng):
        self.r = rng

    def c(self, xs):
        return self.r.choice(xs)

    def adj(self, cat, p=0.6):
        if self.r.random() >= p:
            return ""
        pool = ADJ[cat] + (ADJ_ANY if cat in ("thing", "vehicle", "animal", "place", "food") else [])
        return self.c(pool) + " "

    def noun(self, cat, plural=False):
        forms = [f for f in N[cat] if f[1]] if plural else N[cat]
        s, p = self.c(forms)
        return p if plural else s

    def np(self, cat, det=None, plural=False):
        """Noun phrase: determiner + optional adjective + noun."""
        if det is None:
            det = self.c(["the", "the", "a", "my", "our", "their", "this", "that"]) if not plural else \
                self.c(["the", "some", "my", "these", "those", self.c(COUNTS)])
        a = self.adj(cat)
        n = self.noun(cat, plural)
        if det == "a" and starts_with_vowel_sound(a or n):
            det = "an"
        return f"{det} {a}{n}"

    def subject(self):
        """(text, is_third_singular, pronoun triple)."""
        k = self.r.random()
        if k < 0.4:
            return self.c(NAMES), True, self.c(PRONOUNS)
        if k < 0.65:
            return self.np("person", det=self.c(["the", "a", "our", "my"])), True, self.c(PRONOUNS)
        if k < 0.8:
            return f"my {self.noun('family')}", True, self.c(PRONOUNS)
        if k < 0.9:
            return f"{self.c(NAMES)}'s {self.noun('family')}", True, self.c(PRONOUNS)
        return self.c(["we", "they"]), False, None

    def obj(self, plural=None):
        cat = self.c(list(OBJ_VERBS))
        verb = self.c(OBJ_VERBS[cat])
        if plural is None:
            plural = self.r.random() < 0.3 and cat not in ("place", "event")
        return cat, verb, self.np(cat, plural=plural)

    def when_past(self):
        return self.c(["yesterday", "last night", "this morning", f"on {self.c(DAYS)}", f"in {self.c(MONTHS)}",
                       f"last {self.c(SEASONS)}", f"last {self.c(DAYS)}", "at dawn", "at noon", "after dinner",
                       "before breakfast", "an hour ago", "long ago", f"early that {self.c(PARTS_OF_DAY)}"])

    def when_future(self):
        return self.c(["tomorrow", "next week", f"on {self.c(DAYS)}", f"next {self.c(SEASONS)}", "tonight",
                       f"in {self.c(MONTHS)}", "after lunch", "before sunset", "later today", "soon",
                       f"tomorrow {self.c(PARTS_OF_DAY)}"])

    def place(self):
        return f"the {self.adj('place', 0.3)}{self.noun('place')}"

    def sentence(self):
        t = self.r.randrange(30)
        c = self.c
        if t == 0:
            s, _, _ = self.subject()
            _, v, o = self.obj()
            return f"{s} {v['past']} {o} {self.when_past()}."
        if t == 1:
            return f"{c(NAMES)} and {c(NAMES)} {c(V_MOTION)['past']} to {self.place()} {self.when_past()}."
        if t == 2:
            s, _, _ = self.subject()
            _, v, o = self.obj()
            return f"{s} {c(ADVERBS)} {v['past']} {o} {c(LOC_PREPS)} {self.place()}."
        if t == 3:
            return f"Did you see {self.np('animal', det='the')} {c(LOC_PREPS)} {self.place()}?"
        if t == 4:
            s, _, _ = self.subject()
            _, v, o = self.obj()
            return f"{s} {c(MODALS)} {v['base']} {o} {self.when_future()}."
        if t == 5:
            cat = c(["animal", "thing", "food", "person", "vehicle"])
            return f"There are {c(COUNTS)} {self.adj(cat, 0.5)}{self.noun(cat, True)} {c(LOC_PREPS)} {self.place()}."
        if t == 6:
            s, third, _ = self.subject()
            _, v, o = self.obj()
            was = "was" if third else "were"
            return f"{s} {was} {v['ing']} {o} when {self.np('animal', det='the')} {c(V_ANIMAL_INTRANS)['past']}."
        if t == 7:
            _, v, o = self.obj()
            return f"Please {v['base']} {o} before {c(['dinner', 'lunch', 'the party', 'the show', 'sunset', 'noon', 'the meeting', 'the guests arrive'])}."
        if t == 8:
            _, v, o = self.obj(plural=False)
            return f"Why did {c(NAMES)} {v['base']} {o}?"
        if t == 9:
            s, third, _ = self.subject()
            _, v, o = self.obj()
            vf = v["s"] if third else v["base"]
            return f"{s} {c(FREQ)} {vf} {o} in the {c(PARTS_OF_DAY)}."
        if t == 10:
            _, v, o = self.obj()
            return f"My {self.noun('family')} {v['past']} {o} in {c(PROPER_PLACES)}."
        if t == 11:
            cat = c(["thing", "food", "vehicle"])
            return (f"The {self.noun(cat)} {c(LOC_PREPS)} {self.place()} was {c(ADJ[cat] + ADJ_ANY)} and "
                    f"{c(ADJ[cat])}.")
        if t == 12:
            s, third, _ = self.subject()
            _, v, o = self.obj()
            has = "has" if third else "have"
            return f"{s} {has} never {v['pp']} {o}."
        if t == 13:
            cat1, cat2 = c(["food", "thing", "animal"]), c(["food", "thing", "vehicle"])
            return (f"We {c(['saw', 'counted', 'found', 'noticed', 'bought'])} {c(COUNTS)} {self.noun(cat1, True)} "
                    f"and {c(COUNTS)} {self.noun(cat2, True)} at {self.place()}.")
        if t == 14:
            cat = c(["food", "thing", "vehicle", "place", "animal"])
            return (f"{c(NAMES)} {c(['said', 'thought', 'noticed', 'told us', 'complained', 'explained'])} that the "
                    f"{self.noun(cat)} was {c(['too', 'very', 'rather', 'quite', 'so'])} {c(ADJ[cat])}.")
        if t == 15:
            return (f"If it {c(['rains', 'snows', 'gets cold', 'gets dark', 'is windy'])} {self.when_future()}, "
                    f"we will stay in {self.place()}.")
        if t == 16:
            return (f"{self.np('animal', det='the').capitalize()} {c(V_ANIMAL_INTRANS)['past']} {c(LOC_PREPS)} "
                    f"{self.place()}.")
        if t == 17:
            cat = c(["food", "thing", "animal"])
            v = c(OBJ_VERBS[cat])
            return f"How many {self.noun(cat, True)} did {c(NAMES)} {v['base']} {self.when_past()}?"
        if t == 18:
            _, v, o = self.obj()
            return f"{c(NAMES)}'s {self.noun('family')} {v['past']} {o} {c(ADVERBS)}."
        if t == 19:
            s, _, _ = self.subject()
            _, v, o = self.obj()
            return f"I {c(THINK)} that {s} {v['past']} {o}."
        if t == 20:
            s, _, pr = self.subject()
            _, v, o = self.obj()
            pron = pr[0] if pr else "they"
            was = "was" if pr else "were"
            return f"{s} {v['past']} {o} because {pron} {was} {c(ADJ_BEING)}."
        if t == 21:
            s, _, _ = self.subject()
            return (f"Last {c(SEASONS + DAYS)}, {s} {c(['traveled', 'went', 'came', 'returned', 'moved'])} to "
                    f"{c(PROPER_PLACES)} by {self.noun('vehicle')}.")
        if t == 22:
            f = self.noun("food") if self.r.random() < 0.5 else c(MASS_FOOD)
            verb = c(["tasted", "smelled", "looked", "seemed", "was", "felt"])
            return f"The {f} {verb} {c(['very', 'really', 'rather', 'quite', 'so', 'too'])} {c(ADJ_FOOD)}."
        if t == 23:
            pr = c(PRONOUNS)
            cat = c(["thing", "food", "animal", "text"])
            return (f"{c(NAMES)} gave {c(NAMES)} {self.np(cat, det='a')} for {pr[1]} "
                    f"{c(['birthday', 'wedding', 'journey', 'garden', 'kitchen', 'collection', 'new house'])}.")
        if t == 24:
            return f"It was a {c(WEATHER_ADJ)} {c(PARTS_OF_DAY)} in {c(MONTHS)}."
        if t == 25:
            _, v, o = self.obj()
            return f"Do not {v['base']} {o} {c(LOC_PREPS)} {self.place()}."
        if t == 26:
            pr = c(PRONOUNS)
            _, v, o = self.obj()
            return (f"{pr[0].capitalize()} {v['past']} {o}, and then {pr[0]} {c(V_INTRANS)['past']} "
                    f"{c(ADVERBS)}.")
        if t == 27:
            s, third, _ = self.subject()
            vf = c(["likes", "loves", "enjoys", "prefers"]) if third else c(["like", "love", "enjoy", "prefer"])
            return (f"{s} {vf} {c(MASS_FOOD)} with {c(MASS_FOOD)} for "
                    f"{c(['breakfast', 'lunch', 'dinner', 'supper', 'dessert'])}.")
        if t == 28:
            s, _, _ = self.subject()
            return f"{s} {c(V_INTRANS)['past']} {c(ADVERBS)} while the {self.noun('person', True)} {c(V_INTRANS)['past']}."
        s, _, _ = self.subject()
        return (f"{s} {c(V_TEXT)['past']} {self.np('text', det='a')} about {self.np(c(['animal', 'place', 'person', 'food']), det='a')}.")


def capitalize_first(s):
    return s[0].upper() + s[1:]


def words_of(sentence):
    return re.findall(r"[A-Za-z']+", sentence)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--out", default="data/sentences.txt")
    ap.add_argument("--max-words", type=int, default=16)
    args = ap.parse_args()
    g = Gen(random.Random(args.seed))
    seen, out = set(), []
    attempts = 0
    while len(out) < args.count:
        attempts += 1
        if attempts > args.count * 20:
            sys.exit("make_sentences: cannot find enough distinct sentences")
        s = capitalize_first(re.sub(r"\s+", " ", g.sentence()).strip())
        if len(words_of(s)) > args.max_words or s.lower() in seen:
            continue
        seen.add(s.lower())
        out.append(s)
    types = {w.upper() for s in out for w in words_of(s)}
    if len(out) < 3000 or len(types) < 2000:
        sys.exit(f"make_sentences: only {len(out)} sentences / {len(types)} word types (need 3000 / 2000)")
    for s in out:
        if re.search(r"[0-9]", s):
            sys.exit(f"make_sentences: digit in '{s}'")
    with open(args.out, "w") as f:
        f.write(f"# Generated by tools/make_sentences.py --seed {args.seed} --count {args.count}; do not edit.\n")
        f.write(f"# {len(out)} sentences, {len(types)} word types.\n")
        for s in out:
            f.write(s + "\n")
    print(f"make_sentences: wrote {len(out)} sentences, {len(types)} word types, "
          f"{sum(len(words_of(s)) for s in out) / len(out):.1f} words per sentence to {args.out}")


if __name__ == "__main__":
    main()
